package ocs

import (
	"strings"
	"testing"
	"time"
)

func TestApplyMSCC(t *testing.T) {
	tests := []struct {
		name string
		in   msccStep
		want msccResult
	}{
		{"first grant", msccStep{avail: 1000, want: 100}, msccResult{avail: 900, granted: 100, code: 2001}},
		{"used less than reserved", msccStep{avail: 900, reserved: 100, used: 30, want: 100}, msccResult{avail: 870, charged: 30, granted: 100, code: 2001}},
		{"used all", msccStep{avail: 900, reserved: 100, used: 100, want: 100}, msccResult{avail: 800, charged: 100, granted: 100, code: 2001}},
		{"report only", msccStep{avail: 900, reserved: 100, used: 40}, msccResult{avail: 960, charged: 40, code: 2001}},
		{"nothing used, released", msccStep{avail: 900, reserved: 100}, msccResult{avail: 1000, code: 2001}},
		{"overuse covered", msccStep{avail: 900, reserved: 100, used: 150}, msccResult{avail: 850, charged: 150, code: 2001}},
		{"overuse clamped at zero", msccStep{avail: 20, reserved: 100, used: 500, want: 100}, msccResult{avail: 0, charged: 120, code: resultCreditLimitReached}},
		{"partial grant is final", msccStep{avail: 50, reserved: 100, used: 100, want: 100}, msccResult{avail: 0, charged: 100, granted: 50, final: true, code: 2001}},
		{"exact last grant is not final", msccStep{avail: 100, want: 100}, msccResult{avail: 0, granted: 100, code: 2001}},
		{"empty balance", msccStep{avail: 0, reserved: 50, used: 50, want: 100}, msccResult{avail: 0, charged: 50, code: resultCreditLimitReached}},
		{"empty, no request", msccStep{avail: 0}, msccResult{code: 2001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := applyMSCC(tt.in)
			if got != tt.want {
				t.Errorf("applyMSCC(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
			// Conservation: what was available and reserved is now
			// available, charged or granted.
			if tt.in.avail+tt.in.reserved != got.avail+got.charged+got.granted {
				t.Errorf("not conserved: %+v → %+v", tt.in, got)
			}
		})
	}
}

func TestGrantFor(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatingGroups = []RatingGroupConfig{{ID: 5, Unit: "time", Grant: Balance{Time: 60}}}
	g, u := cfg.grantFor(5, true)
	if u != unitTime || g[unitTime] != 60 || g[unitOctets] != cfg.DefaultGrant.Octets {
		t.Errorf("rating group 5: %v %v", g, u)
	}
	if g, u := cfg.grantFor(6, true); u != unitOctets || g != cfg.DefaultGrant.amounts() {
		t.Errorf("rating group 6: %v %v", g, u)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; empty for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "ocs.data_dir"},
		{"zero grant", func(c *Config) { c.DefaultGrant.Octets = 0 }, "ocs.default_grant.octets: must be positive"},
		{"bad unit", func(c *Config) { c.DefaultUnit = "bytes" }, "ocs.default_unit"},
		{"bad account type", func(c *Config) { c.Accounts = []AccountConfig{{Type: "msisdn", Data: "1"}} }, "ocs.accounts[0].type"},
		{"duplicate account", func(c *Config) {
			c.Accounts = []AccountConfig{{Type: "imsi", Data: "1"}, {Type: "imsi", Data: "1"}}
		}, "ocs.accounts[1]"},
		{"redirect without server", func(c *Config) { c.FinalUnitAction = "redirect" }, "ocs.redirect_server_address"},
		{"bad final action", func(c *Config) { c.FinalUnitAction = "block" }, "ocs.final_unit_action"},
		{"no session timeout", func(c *Config) { c.SessionTimeout = 0 }, "ocs.session_timeout"},
		{"negative validity", func(c *Config) { c.ValidityTime = -time.Second }, "ocs.validity_time"},
		{"bad failover", func(c *Config) { c.CCSessionFailover = "yes" }, "ocs.cc_session_failover"},
		{"no failover AVP", func(c *Config) { c.CCSessionFailover = "" }, ""},
		{"bad rating group unit", func(c *Config) { c.RatingGroups = []RatingGroupConfig{{ID: 1, Unit: "x"}} }, "ocs.rating_groups[0].unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.DataDir = "/tmp/x"
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
