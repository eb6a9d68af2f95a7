// Package ocs is the agent's embedded Online Charging System: the Diameter
// Credit-Control application (RFC 4006, application 4) for Gy/Ro, with
// session-based charging (reservations per Multiple-Services-Credit-Control),
// direct debiting, durable accounts (write-ahead log and snapshots) and
// server-initiated re-authorization (RAR).
//
// Units. An account holds three independent balances, one per unit kind:
// time (seconds, CC-Time), octets (CC-Total-Octets, or CC-Input-Octets plus
// CC-Output-Octets) and units (CC-Service-Specific-Units). There is no money:
// a rating group is charged one balance unit per service unit. The kind of a
// grant follows the Requested-Service-Unit (the first of octets, time, units
// that it carries); an empty Requested-Service-Unit uses the rating group's
// configured unit, else Config.DefaultUnit.
//
// Retransmissions. The answer to a session's last request, and to an EVENT
// or CCR-T for doneTTL, is logged in the same record as the change it
// answers, so that after a restart or a crash a resent request gets the
// first answer and is not charged again; a CC-Request-Number below the last
// one answered gets 5012 and changes nothing.
//
// Stores. The state lives in one of two credit stores (creditStore): the
// embedded one (memory, write-ahead log and snapshots in Config.DataDir;
// New) or the shared one in Redis (NewShared, shared.go), which every
// agent on the same Redis serves from; both answer the same requests
// alike.
//
// Locks. Server.mu guards the account and session indexes; account.mu guards
// one account's balances and its sessions. The order is account.mu, then
// Server.mu (held briefly to update the session index), doneCache.mu or
// wal.mu. No path takes two account locks. Snapshots are collected on their
// own goroutine, one account lock at a time.
package ocs
