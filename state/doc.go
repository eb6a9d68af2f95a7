// Package state is the seam between the agent and the state that several
// agents share: session bindings and rate-limit buckets, kept in process
// (embedded, the default) or in Redis (standalone, Sentinel or Cluster).
package state
