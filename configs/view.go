package configs

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// Redacted stands in the admin API's view for a secret that is set.
const Redacted = "REDACTED"

// view renders v the way a configuration file writes it: the keys of the
// mapstructure tags, squashed structs at their parent's level, durations
// as "1m30s", values with a text form (addresses, prefixes) as that text.
func view(v reflect.Value) any {
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return time.Duration(v.Int()).String()
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok && !(v.Kind() == reflect.Struct && hasTags(v.Type())) {
		if b, err := m.MarshalText(); err == nil {
			return string(b)
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		viewStruct(v, out)
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil // unset, as in the file (an empty list stays [])
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = view(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = view(it.Value())
		}
		return out
	}
	return v.Interface()
}

// viewStruct adds the fields of struct v to out under their keys.
func viewStruct(v reflect.Value, out map[string]any) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case tag == "-":
		case strings.Contains(opts, "squash") || f.Anonymous && tag == "":
			fv := v.Field(i)
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			viewStruct(fv, out)
		default:
			out[tagName(f)] = view(v.Field(i))
		}
	}
}

// hasTags reports whether struct type t names its fields for a file.
func hasTags(t reflect.Type) bool {
	for i := range t.NumField() {
		if _, ok := t.Field(i).Tag.Lookup("mapstructure"); ok {
			return true
		}
	}
	return false
}

// View is c as the admin API shows it (GET /v1/config): what runs, with
// the keys and units a file uses. Admin tokens and the state backend's
// password are Redacted when set; the
// OCS's provisioned accounts, which are subscriber data, are shown as
// their number.
func View(c *Config) map[string]any {
	m := view(reflect.ValueOf(*c)).(map[string]any)
	if a, ok := m["admin"].(map[string]any); ok {
		for _, k := range []string{"token", "read_token"} {
			if s, _ := a[k].(string); s != "" {
				a[k] = Redacted
			}
		}
	}
	redactStateView(m)
	if apps, ok := m["apps"].(map[string]any); ok {
		if ocs, ok := apps["ocs"].(map[string]any); ok {
			ocs["accounts"] = len(c.Apps.OCS.Accounts)
		}
	}
	return m
}

// fromView decodes a View back into a Config, as a file is decoded. The
// applications are left out (View reduces them; Running compares them by
// digest).
func fromView(m map[string]any) (Config, error) {
	var c Config
	m2 := make(map[string]any, len(m))
	for k, v := range m {
		if k != "apps" {
			m2[k] = v
		}
	}
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: &c,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.TextUnmarshallerHookFunc(),
		),
	})
	if err != nil {
		return Config{}, err
	}
	if err := d.Decode(m2); err != nil {
		return Config{}, fmt.Errorf("configs: running configuration: %w", err)
	}
	return c, nil
}

// MarshalJSON writes r as {"config": View, "apps": digests}.
func (r Running) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Config map[string]any    `json:"config"`
		Apps   map[string]string `json:"apps"`
	}{View(&r.Config), r.Apps})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Running) UnmarshalJSON(b []byte) error {
	var raw struct {
		Config map[string]any    `json:"config"`
		Apps   map[string]string `json:"apps"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	c, err := fromView(raw.Config)
	if err != nil {
		return err
	}
	r.Config, r.Apps = c, raw.Apps
	return nil
}
