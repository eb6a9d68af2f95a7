package admin

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		fields []string // named in the error; none: valid
	}{
		{"disabled", Config{}, nil},
		{"disabled with token", Config{Token: "x"}, nil},
		{"loopback v4", Config{Addr: "127.0.0.1:9868"}, nil},
		{"loopback v6", Config{Addr: "[::1]:9868"}, nil},
		{"localhost", Config{Addr: "localhost:9868"}, nil},
		{"port 0", Config{Addr: "127.0.0.1:0"}, nil},
		{"public with token", Config{Addr: "192.0.2.1:9868", Token: "tok"}, nil},
		{"all interfaces with token", Config{Addr: ":9868", Token: "tok"}, nil},
		{"public without token", Config{Addr: "192.0.2.1:9868"}, []string{"admin.token"}},
		{"all interfaces without token", Config{Addr: ":9868"}, []string{"admin.token"}},
		{"unspecified v4 without token", Config{Addr: "0.0.0.0:9868"}, []string{"admin.token"}},
		{"name without token", Config{Addr: "admin.example.net:9868"}, []string{"admin.token"}},
		{"no port", Config{Addr: "127.0.0.1"}, []string{"admin.address"}},
		{"bad port", Config{Addr: "127.0.0.1:http"}, []string{"admin.address"}},
		{"port too large", Config{Addr: "127.0.0.1:70000"}, []string{"admin.address"}},
		{"bare v6", Config{Addr: "::1:9868"}, []string{"admin.address"}},
		{"token with space", Config{Addr: "127.0.0.1:9868", Token: "a b"}, []string{"admin.token"}},
		{"bad port and no token", Config{Addr: "192.0.2.1:x"}, []string{"admin.address", "admin.token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors on %v", tt.fields)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f+": ") {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v is not a *FieldError", err)
			}
		})
	}
}
