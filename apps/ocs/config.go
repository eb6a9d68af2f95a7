package ocs

import (
	"errors"
	"fmt"
	"time"
)

// AppID is the Diameter Credit-Control application (RFC 4006).
const AppID uint32 = 4

// Balance is an amount per unit kind.
type Balance struct {
	// Time in seconds (CC-Time).
	Time uint64 `mapstructure:"time"`
	// Octets (CC-Total-Octets, or CC-Input-Octets + CC-Output-Octets).
	Octets uint64 `mapstructure:"octets"`
	// Units are service-specific units (CC-Service-Specific-Units).
	Units uint64 `mapstructure:"units"`
}

func (b Balance) amounts() amounts { return amounts{b.Time, b.Octets, b.Units} }

// AccountConfig is one provisioned account. Accounts are added to the
// durable state when it does not hold them yet; an account already held
// keeps its durable balances, and only Blocked is taken from configuration.
type AccountConfig struct {
	// Type is the Subscription-Id-Type: end_user_e164, imsi, sip_uri, nai
	// or private.
	Type string `mapstructure:"type"`
	// Data is the Subscription-Id-Data.
	Data string `mapstructure:"data"`
	// Balance is the starting balance.
	Balance Balance `mapstructure:"balance"`
	// Blocked answers 4010 DIAMETER_END_USER_SERVICE_DENIED.
	Blocked bool `mapstructure:"blocked"`
}

// RatingGroupConfig overrides the grant of one rating group.
type RatingGroupConfig struct {
	ID uint32 `mapstructure:"id"`
	// Unit used when the Requested-Service-Unit names none: time, octets
	// or units; empty means Config.DefaultUnit.
	Unit string `mapstructure:"unit"`
	// Grant is the size of one grant per unit kind; zero fields fall back
	// to Config.DefaultGrant.
	Grant Balance `mapstructure:"grant"`
}

// Config configures the OCS. DefaultConfig documents the defaults.
type Config struct {
	// DataDir holds the write-ahead log and the snapshot. Created if
	// missing. Required.
	DataDir string `mapstructure:"data_dir"`
	// LabMode creates an unknown subscriber with StartingBalance instead
	// of answering 5030 DIAMETER_USER_UNKNOWN: free credit for anyone who
	// asks, for a lab only. Default false; the agent warns at start when
	// it is on.
	LabMode bool `mapstructure:"lab_mode"`
	// StartingBalance of accounts created in lab mode. Default 3600 s,
	// 1 GiB, 100 units.
	StartingBalance Balance `mapstructure:"starting_balance"`
	// Accounts provisioned from configuration.
	Accounts []AccountConfig `mapstructure:"accounts"`
	// DefaultGrant is the size of one grant per unit kind. Default 600 s,
	// 10 MiB, 10 units. A smaller non-zero requested amount is granted as
	// requested.
	DefaultGrant Balance `mapstructure:"default_grant"`
	// DefaultUnit is the unit kind of a Requested-Service-Unit without
	// amounts: time, octets or units. Default octets.
	DefaultUnit string `mapstructure:"default_unit"`
	// RatingGroups override grants per rating group.
	RatingGroups []RatingGroupConfig `mapstructure:"rating_groups"`
	// ValidityTime is sent as Validity-Time with each grant (whole
	// seconds); when it passes without a CCR-U the OCS sends a RAR.
	// 0 sends none. Default 30 min.
	ValidityTime time.Duration `mapstructure:"validity_time"`
	// SessionTimeout releases the reservations of a session that sent no
	// CCR for this long. Default 1 h.
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
	// FinalUnitAction sent with the last grant: terminate, redirect or
	// restrict_access. Default terminate.
	FinalUnitAction string `mapstructure:"final_unit_action"`
	// RedirectAddressType of the Redirect-Server for final_unit_action
	// redirect: ipv4, ipv6, url or sip_uri. Default url.
	RedirectAddressType string `mapstructure:"redirect_address_type"`
	// RedirectServerAddress for final_unit_action redirect (required then).
	RedirectServerAddress string `mapstructure:"redirect_server_address"`
	// CCSessionFailover sent in every CCA: supported, not_supported, or
	// empty for none. Default not_supported.
	CCSessionFailover string `mapstructure:"cc_session_failover"`
	// CreditControlFailureHandling sent in every CCA: terminate, continue,
	// retry_and_terminate, or empty for none. Default terminate.
	CreditControlFailureHandling string `mapstructure:"credit_control_failure_handling"`
	// UnitPrice is the price of one unit per kind, for PRICE_ENQUIRY
	// (Cost-Information, exponent 0). Default 1 each.
	UnitPrice Balance `mapstructure:"unit_price"`
	// CurrencyCode (ISO 4217) in Cost-Information. Default 978 (EUR).
	CurrencyCode uint32 `mapstructure:"currency_code"`
	// SnapshotInterval bounds the time between snapshots (which also
	// truncate the log). Default 1 min.
	SnapshotInterval time.Duration `mapstructure:"snapshot_interval"`
	// SnapshotRecords takes a snapshot after this many log records.
	// Default 10000.
	SnapshotRecords int `mapstructure:"snapshot_records"`
}

// DefaultConfig returns the defaults: unknown subscribers are refused
// (lab mode off; StartingBalance applies only when it is turned on),
// grants of 600 s / 10 MiB / 10 units,
// Validity-Time 30 min, session timeout 1 h, final unit action terminate.
// DataDir must still be set.
func DefaultConfig() Config {
	return Config{
		StartingBalance:              Balance{Time: 3600, Octets: 1 << 30, Units: 100},
		DefaultGrant:                 Balance{Time: 600, Octets: 10 << 20, Units: 10},
		DefaultUnit:                  "octets",
		ValidityTime:                 30 * time.Minute,
		SessionTimeout:               time.Hour,
		FinalUnitAction:              "terminate",
		RedirectAddressType:          "url",
		CCSessionFailover:            "not_supported",
		CreditControlFailureHandling: "terminate",
		UnitPrice:                    Balance{Time: 1, Octets: 1, Units: 1},
		CurrencyCode:                 978,
		SnapshotInterval:             time.Minute,
		SnapshotRecords:              10000,
	}
}

var (
	subscriptionTypes = map[string]uint32{"end_user_e164": 0, "imsi": 1, "sip_uri": 2, "nai": 3, "private": 4}
	unitNames         = map[string]unit{"time": unitTime, "octets": unitOctets, "units": unitUnits}
	finalActions      = map[string]uint32{"terminate": 0, "redirect": 1, "restrict_access": 2}
	redirectTypes     = map[string]uint32{"ipv4": 0, "ipv6": 1, "url": 2, "sip_uri": 3}
	failoverValues    = map[string]uint32{"not_supported": 0, "supported": 1}
	failureHandling   = map[string]uint32{"terminate": 0, "continue": 1, "retry_and_terminate": 2}
)

// Validate checks the configuration; errors name the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("ocs.%s: "+format, append([]any{field}, a...)...))
	}
	if c.DataDir == "" {
		bad("data_dir", "must be set")
	}
	if c.DefaultGrant.Time == 0 {
		bad("default_grant.time", "must be positive")
	}
	if c.DefaultGrant.Octets == 0 {
		bad("default_grant.octets", "must be positive")
	}
	if c.DefaultGrant.Units == 0 {
		bad("default_grant.units", "must be positive")
	}
	if _, ok := unitNames[c.DefaultUnit]; !ok {
		bad("default_unit", "%q is not time, octets or units", c.DefaultUnit)
	}
	seen := map[uint32]bool{}
	for i, rg := range c.RatingGroups {
		if rg.Unit != "" {
			if _, ok := unitNames[rg.Unit]; !ok {
				bad(fmt.Sprintf("rating_groups[%d].unit", i), "%q is not time, octets or units", rg.Unit)
			}
		}
		if seen[rg.ID] {
			bad(fmt.Sprintf("rating_groups[%d].id", i), "duplicate rating group %d", rg.ID)
		}
		seen[rg.ID] = true
	}
	keys := map[string]bool{}
	for i, a := range c.Accounts {
		t, ok := subscriptionTypes[a.Type]
		if !ok {
			bad(fmt.Sprintf("accounts[%d].type", i), "%q is not end_user_e164, imsi, sip_uri, nai or private", a.Type)
		}
		if a.Data == "" {
			bad(fmt.Sprintf("accounts[%d].data", i), "must be set")
		}
		k := accountKey(t, a.Data)
		if keys[k] {
			bad(fmt.Sprintf("accounts[%d]", i), "duplicate account %s %q", a.Type, a.Data)
		}
		keys[k] = true
	}
	if c.ValidityTime < 0 {
		bad("validity_time", "must not be negative")
	}
	if c.SessionTimeout <= 0 {
		bad("session_timeout", "must be positive")
	}
	if _, ok := finalActions[c.FinalUnitAction]; !ok {
		bad("final_unit_action", "%q is not terminate, redirect or restrict_access", c.FinalUnitAction)
	}
	if c.FinalUnitAction == "redirect" {
		if _, ok := redirectTypes[c.RedirectAddressType]; !ok {
			bad("redirect_address_type", "%q is not ipv4, ipv6, url or sip_uri", c.RedirectAddressType)
		}
		if c.RedirectServerAddress == "" {
			bad("redirect_server_address", "must be set when final_unit_action is redirect")
		}
	}
	if _, ok := failoverValues[c.CCSessionFailover]; !ok && c.CCSessionFailover != "" {
		bad("cc_session_failover", "%q is not supported or not_supported", c.CCSessionFailover)
	}
	if _, ok := failureHandling[c.CreditControlFailureHandling]; !ok && c.CreditControlFailureHandling != "" {
		bad("credit_control_failure_handling", "%q is not terminate, continue or retry_and_terminate", c.CreditControlFailureHandling)
	}
	if c.SnapshotInterval <= 0 {
		bad("snapshot_interval", "must be positive")
	}
	if c.SnapshotRecords <= 0 {
		bad("snapshot_records", "must be positive")
	}
	return errors.Join(errs...)
}

// grantFor returns the grant size and default unit of a rating group.
func (c *Config) grantFor(rg uint32, hasRG bool) (amounts, unit) {
	g, u := c.DefaultGrant.amounts(), unitNames[c.DefaultUnit]
	if !hasRG {
		return g, u
	}
	for _, r := range c.RatingGroups {
		if r.ID != rg {
			continue
		}
		for k, v := range r.Grant.amounts() {
			if v != 0 {
				g[k] = v
			}
		}
		if r.Unit != "" {
			u = unitNames[r.Unit]
		}
	}
	return g, u
}
