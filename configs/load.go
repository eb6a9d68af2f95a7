package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/dra-project/dra/apps/aaa"
	"github.com/dra-project/dra/apps/cdf"
	"github.com/dra-project/dra/apps/ocs"
)

//go:embed default.yaml
var defaultYAML []byte

//go:embed lab.yaml
var labYAML []byte

// DefaultYAML returns the embedded default configuration file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// EnvPrefix prefixes environment overrides: DRA_IDENTITY_ORIGIN_HOST
// overrides identity.origin_host.
const EnvPrefix = "DRA"

// Load reads the configuration: the embedded defaults, then the YAML file at
// path (none when path is empty), then DRA_* environment variables. The
// result is normalized and validated; an error names the field and why.
func Load(path string) (*Config, error) {
	file := labYAML // no file: the lab configuration
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("configs: %w", err)
		}
		if holdsNothing(b) {
			return nil, fmt.Errorf("configs: %s: %w", path, ErrEmptyFile)
		}
		file = b
	}
	c, err := parse(file, os.LookupEnv)
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("configs: %s: %w", path, err)
		}
		return nil, fmt.Errorf("configs: %w", err)
	}
	return c, nil
}

// ErrEmptyFile refuses a configuration file that sets nothing: empty,
// blank or only comments. Run without -config for the built-in lab
// configuration; a file that was truncated (by an editor, before it wrote
// the new content) must not replace the running configuration with the
// defaults.
var ErrEmptyFile = errors.New("the file sets nothing (empty or only comments); refused")

// holdsNothing reports whether a YAML document sets no key. A document
// that does not parse is left for the full parse to report.
func holdsNothing(file []byte) bool {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(file)); err != nil {
		return false
	}
	return len(v.AllKeys()) == 0
}

// Parse is Load for an in-memory YAML document and no environment.
func Parse(yaml []byte) (*Config, error) {
	return parse(yaml, func(string) (string, bool) { return "", false })
}

func parse(file []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		return nil, fmt.Errorf("embedded default: %w", err)
	}
	if len(file) > 0 {
		if err := v.MergeConfig(bytes.NewReader(file)); err != nil {
			return nil, fmt.Errorf("yaml: %w", err)
		}
	}
	// Environment overrides apply to scalar keys; viper only consults the
	// environment for keys it knows, which the default file lists.
	for _, key := range v.AllKeys() {
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if val, ok := lookupEnv(env); ok {
			v.Set(key, val)
		}
	}
	// Application settings start from their packages' defaults; the file
	// overrides what it names.
	c := Config{Apps: Apps{
		CDF: CDF{Config: cdf.DefaultConfig()},
		OCS: OCS{Config: ocs.DefaultConfig()},
		AAA: AAA{Config: aaa.DefaultConfig()},
	}}
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	c.normalize()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// normalize fills per-item defaults that a YAML list cannot inherit.
func (c *Config) normalize() {
	for i := range c.Listen {
		if c.Listen[i].Transport == "" {
			c.Listen[i].Transport = "tcp"
		}
	}
	for i := range c.Peers {
		p := &c.Peers[i]
		if p.Transport == "" {
			p.Transport = "tcp"
		}
		if p.WatchdogInterval == 0 {
			p.WatchdogInterval = c.Timers.Watchdog
		}
	}
	c.Identity.OriginHost = strings.TrimSpace(c.Identity.OriginHost)
	c.Identity.OriginRealm = strings.TrimSpace(c.Identity.OriginRealm)
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")
