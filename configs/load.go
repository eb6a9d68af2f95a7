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
	"go.yaml.in/yaml/v3"

	"github.com/dra-project/dra/apps/aaa"
	"github.com/dra-project/dra/apps/cdf"
	"github.com/dra-project/dra/apps/ocs"
)

//go:embed default.yaml
var defaultYAML []byte

//go:embed lab.yaml
var labYAML []byte

// DefaultYAML returns the embedded default configuration file: the
// built-in default of every key, which a configuration file overrides.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// labHeader heads RunYAML's file.
const labHeader = `# What dra runs with when no configuration file is given: the built-in
# defaults (dra -print-builtin-defaults) plus lab mode. The agent's own
# realm is served locally by all three applications; the OCS gives any
# subscriber a starting balance, the AAA server knows the user demo/demo
# (PAP and CHAP). dra -config with this file runs the same agent; a
# production file leaves the lab applications off.
`

// RunYAML returns, as one YAML file, the configuration the agent runs
// with when no file is given: the embedded defaults with the lab
// configuration merged in. Load of this file gives what Load("") gives.
func RunYAML() ([]byte, error) {
	var base, lab yaml.Node
	if err := yaml.Unmarshal(defaultYAML, &base); err != nil {
		return nil, fmt.Errorf("configs: embedded default: %w", err)
	}
	if err := yaml.Unmarshal(labYAML, &lab); err != nil {
		return nil, fmt.Errorf("configs: embedded lab configuration: %w", err)
	}
	if len(base.Content) != 1 || len(lab.Content) != 1 {
		return nil, errors.New("configs: embedded configuration: not one YAML document")
	}
	root := base.Content[0]
	if len(root.Content) > 0 {
		root.Content[0].HeadComment = "" // the defaults' own header
	}
	mergeYAML(root, lab.Content[0])
	var b bytes.Buffer
	b.WriteString(labHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&base); err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return b.Bytes(), nil
}

// mergeYAML merges the mapping src into the mapping dst as viper merges a
// file into the defaults: a mapping is merged key by key, anything else
// (a list, a scalar) replaces what dst has.
func mergeYAML(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		j := 0
		for ; j+1 < len(dst.Content); j += 2 {
			if dst.Content[j].Value == k.Value {
				break
			}
		}
		switch {
		case j+1 >= len(dst.Content):
			dst.Content = append(dst.Content, k, v)
		case v.Kind == yaml.MappingNode && dst.Content[j+1].Kind == yaml.MappingNode:
			mergeYAML(dst.Content[j+1], v)
		default:
			dst.Content[j+1] = v
		}
	}
}

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
	// set records the keys the file and the environment set, so that a
	// problem is reported at the key the user wrote.
	set := setKeys{}
	if len(file) > 0 {
		fv := viper.New()
		fv.SetConfigType("yaml")
		if err := fv.ReadConfig(bytes.NewReader(file)); err == nil {
			for _, k := range fv.AllKeys() {
				set[k] = ""
			}
		}
	}
	// Environment overrides apply to scalar keys; viper only consults the
	// environment for keys it knows, which the default file lists.
	for _, key := range v.AllKeys() {
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if val, ok := lookupEnv(env); ok {
			v.Set(key, val)
			set[key] = env
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
	c.Identity.OriginHost = strings.TrimSpace(c.Identity.OriginHost)
	c.Identity.OriginRealm = strings.TrimSpace(c.Identity.OriginRealm)
	c.normalizeState()
	// Validation sees what the user wrote: a list item's default is
	// filled in only afterwards, so that a bad timers.watchdog is not
	// also reported at every peer that inherits it.
	if err := c.validate(set); err != nil {
		return nil, err
	}
	c.inherit()
	return &c, nil
}

// setKeys maps each key the file or the environment set to the variable
// that set it ("" for the file).
type setKeys map[string]string

// inherit fills per-item defaults that a YAML list cannot inherit.
func (c *Config) inherit() {
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
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")
