package ocs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/state"
)

// The shared credit store keeps the OCS's state in Redis, so that every
// agent on the same Redis (and key prefix) serves the same subscribers.
//
// Layout. One hash per subscriber, key prefix + "ocs:{type:data}" (the
// braces make the subscriber the Cluster hash tag), holds everything one
// request may change:
//
//	v            version, incremented by every change
//	a            the account (acctState, JSON)
//	s:<sid>      an open session with its reservations and the answer to
//	             its last request (sessState, JSON)
//	d:<n>:<sid>  the answer to request n of an ended session or to an
//	             EVENT (doneState, JSON), kept doneTTL
//
// and one string per session, prefix + "ocs-session:{sid}", names the
// subscriber, so that a CCR-U or CCR-T without Subscription-Id arriving at
// any agent finds the hash. It lives SessionTimeout + doneTTL from the
// session's last request.
//
// Changes. An agent serves a request on its cached copy of the hash with
// the same code as the embedded store (processMSCC, eventApply), then
// commits with one script (commitScript): when the hash's version is still
// the one the copy was read at, the script writes the new account, the
// session or its removal, and the answer, all at once, and increments the
// version; otherwise it writes nothing and returns the whole current hash,
// on which the agent serves the request again. A charge and the answer
// that makes its retransmission a duplicate are thus written together or
// not at all, no two agents ever spend the same credit (every change is
// checked against the latest version), and a request is one round trip
// when the agent's copy is current: always for a subscriber served by one
// agent, and after one failed try otherwise.
//
// Expiry. Sessions whose last request is older than SessionTimeout are
// released lazily: any agent that serves a request of the subscriber (or
// reads its balance) releases their reservations and deletes them in the
// same commit, as it drops answers older than doneTTL. No agent need
// outlive the sessions it opened. Times are the agents' clocks.
//
// Failure. Any error from Redis (unreachable, timeout, failing over) is
// answered 5012 DIAMETER_UNABLE_TO_COMPLY with an Error-Message; the copy
// is dropped and read again by the next request. A request is answered
// 2001 only after its commit returned.
type sharedCredit struct {
	s       *Server
	st      *state.Redis
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration

	mu    sync.Mutex
	accts map[string]*shAcct // by accountKey; the cached copies
	sids  map[string]string  // Session-Id -> accountKey, a cache of the index
}

// shAcct is an agent's copy of one subscriber's hash.
type shAcct struct {
	account // mu serializes this agent's requests on the subscriber
	ver     int64
	loaded  bool // ver and the rest are a copy of Redis's hash
	fresh   bool // read from Redis by the request being served
	exists  bool // the hash holds an account
	done    map[doneKey]doneState
}

// sharedMaxTries bounds the commits one request tries when other agents
// keep changing the subscriber.
const sharedMaxTries = 32

// sidCacheMax and acctCacheMax bound the Session-Id cache and the
// copies of subscribers' hashes (each cleared when full).
const (
	sidCacheMax  = 1 << 16
	acctCacheMax = 1 << 16
)

// errSharedContention is answered 5012 when a request could not commit in
// sharedMaxTries tries.
var errSharedContention = errors.New("ocs: credit store: too many concurrent changes")

// commitScript: KEYS[1] the subscriber's hash; ARGV[1] the version the
// change was computed on, then field, value pairs (an empty value deletes
// the field). Returns {1, new version}, or {0, HGETALL} when the version
// is another.
var commitScript = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then
  return {0, redis.call('HGETALL', KEYS[1])}
end
v = v + 1
redis.call('HSET', KEYS[1], 'v', v)
for i = 2, #ARGV, 2 do
  if ARGV[i+1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  end
end
return {1, v}
`)

func newSharedCredit(s *Server, st *state.Redis) *sharedCredit {
	return &sharedCredit{s: s, st: st, c: st.Client(), prefix: st.KeyPrefix(), timeout: st.Timeout(),
		accts: map[string]*shAcct{}, sids: map[string]string{}}
}

func (c *sharedCredit) acctKey(key string) string { return state.Key(c.prefix, "ocs", key) }
func (c *sharedCredit) sidKey(sid string) string  { return state.Key(c.prefix, "ocs-session", sid) }

// indexTTL is how long a session's index outlives its last request.
func (c *sharedCredit) indexTTL() time.Duration { return c.s.cfg.SessionTimeout + doneTTL }

// get returns the cached copy of key's hash, creating an unloaded one.
func (c *sharedCredit) get(key string) *shAcct {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accts[key]
	if a == nil {
		if len(c.accts) >= acctCacheMax {
			// Requests holding a dropped copy finish on it; a request
			// that makes another copy of the same subscriber meanwhile
			// is kept apart from them by the version check, as another
			// agent's would be.
			clear(c.accts)
		}
		a = &shAcct{}
		c.accts[key] = a
	}
	return a
}

// remember caches the subscriber of session sid.
func (c *sharedCredit) remember(sid, key string) {
	c.mu.Lock()
	if len(c.sids) >= sidCacheMax {
		clear(c.sids)
	}
	c.sids[sid] = key
	c.mu.Unlock()
}

func (c *sharedCredit) cachedSub(sid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sids[sid]
}

// ctx bounds one Redis operation.
func (c *sharedCredit) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// writes are the fields one change sets ("" deletes).
type writes struct {
	kv      []any
	acct    bool
	touched []string // sessions whose index to refresh
}

func (w *writes) set(field string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ocs: encode %s: %w", field, err)
	}
	w.kv = append(w.kv, field, b)
	return nil
}

func (w *writes) del(field string) { w.kv = append(w.kv, field, "") }

func sessField(sid string) string { return "s:" + sid }

func doneField(sid string, num uint32) string {
	return "d:" + strconv.FormatUint(uint64(num), 10) + ":" + sid
}

// load replaces a's copy with the hash's fields (HGETALL's flat reply or
// map).
func (a *shAcct) load(fields map[string]string) error {
	a.ver, a.exists, a.loaded = 0, false, false
	a.st = acctState{}
	a.sessions = map[string]*session{}
	a.done = map[doneKey]doneState{}
	for f, v := range fields {
		switch {
		case f == "v":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("ocs: credit store: version %q: %w", v, err)
			}
			a.ver = n
		case f == "a":
			if err := json.Unmarshal([]byte(v), &a.st); err != nil {
				return fmt.Errorf("ocs: credit store: account: %w", err)
			}
			a.exists = true
		case strings.HasPrefix(f, "s:"):
			var ss sessState
			if err := json.Unmarshal([]byte(v), &ss); err != nil {
				return fmt.Errorf("ocs: credit store: session: %w", err)
			}
			a.sessions[ss.ID] = &session{st: ss}
		case strings.HasPrefix(f, "d:"):
			var d doneState
			if err := json.Unmarshal([]byte(v), &d); err != nil {
				return fmt.Errorf("ocs: credit store: answer: %w", err)
			}
			a.done[doneKey{d.Sid, d.Num}] = d
		}
	}
	a.loaded = true
	return nil
}

// read loads a's copy from Redis.
func (c *sharedCredit) read(key string, a *shAcct) error {
	ctx, cancel := c.ctx()
	defer cancel()
	m, err := c.c.HGetAll(ctx, c.acctKey(key)).Result()
	if err := c.st.Err(ctx, "ocs read", err); err != nil {
		a.loaded = false
		return err
	}
	return a.load(m)
}

// expire releases the sessions of a idle for longer than SessionTimeout
// and drops answers older than doneTTL, recording the changes in w.
func (c *sharedCredit) expire(a *shAcct, w *writes, now time.Time) {
	timeout := c.s.cfg.SessionTimeout.Nanoseconds()
	for id, ss := range a.sessions {
		if now.UnixNano()-ss.st.LastSeen > timeout {
			releaseAll(&a.account, &ss.st)
			delete(a.sessions, id)
			w.del(sessField(id))
			w.acct = true
			c.s.log.Debug("ocs: session timed out; reservations released", "session", id)
		}
	}
	for k, d := range a.done {
		if now.Sub(time.Unix(0, d.At)) > doneTTL {
			delete(a.done, k)
			w.del(doneField(k.sid, k.num))
		}
	}
}

// serveFunc serves a request on a loaded copy, recording its changes in
// w, and returns the answer.
type serveFunc func(a *shAcct, w *writes) ([]byte, error)

// apply serves fn on the subscriber key's hash and commits its changes,
// serving it again on the current hash when another agent changed it
// meanwhile. The copy is dropped on any error.
func (c *sharedCredit) apply(key string, fn serveFunc) ([]byte, error) {
	a := c.get(key)
	a.mu.Lock()
	defer a.mu.Unlock()
	ans, err := c.applyLocked(key, a, fn)
	if err != nil {
		a.loaded = false
	}
	return ans, err
}

func (c *sharedCredit) applyLocked(key string, a *shAcct, fn serveFunc) ([]byte, error) {
	a.fresh = false
	if !a.loaded {
		if err := c.read(key, a); err != nil {
			return nil, err
		}
		a.fresh = true
	}
	for range sharedMaxTries {
		w := &writes{}
		c.expire(a, w, c.s.now())
		ans, err := fn(a, w)
		if err != nil {
			return nil, err
		}
		if len(w.kv) == 0 && !w.acct {
			return ans, nil
		}
		if w.acct || a.exists {
			if err := w.set("a", a.st); err != nil {
				return nil, err
			}
		}
		ok, fields, err := c.commit(key, a.ver, w)
		if err != nil {
			return nil, err
		}
		if ok {
			a.ver++
			return ans, nil
		}
		if err := a.load(fields); err != nil {
			return nil, err
		}
		a.fresh = true
	}
	return nil, errSharedContention
}

// commit runs commitScript with w at version ver, pipelined with the
// refresh of the touched sessions' index. It returns whether it
// committed, or the current hash.
func (c *sharedCredit) commit(key string, ver int64, w *writes) (bool, map[string]string, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	args := append([]any{ver}, w.kv...)
	keys := []string{c.acctKey(key)}
	run := func(eval bool) (*redis.Cmd, error) {
		var cmd *redis.Cmd
		_, err := c.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			if eval {
				cmd = commitScript.Eval(ctx, p, keys, args...)
			} else {
				cmd = commitScript.EvalSha(ctx, p, keys, args...)
			}
			for _, sid := range w.touched {
				p.PExpire(ctx, c.sidKey(sid), c.indexTTL())
			}
			return nil
		})
		if err == nil {
			err = cmd.Err()
		}
		return cmd, err
	}
	cmd, err := run(false)
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		// Not run: the server lost its scripts (restart, failover).
		cmd, err = run(true)
	}
	if err := c.st.Err(ctx, "ocs commit", err); err != nil {
		return false, nil, err
	}
	res, err := cmd.Slice()
	if err != nil || len(res) != 2 {
		return false, nil, fmt.Errorf("ocs: credit store: commit: unexpected reply %v: %w", res, err)
	}
	if n, _ := res[0].(int64); n == 1 {
		return true, nil, nil
	}
	flat, _ := res[1].([]any)
	fields := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		f, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[f] = v
	}
	return false, fields, nil
}

// create adds the account of sub to a when it is provisioned (or in lab
// mode); false when the subscriber is unknown.
func (c *sharedCredit) create(a *shAcct, sub subscription, w *writes) bool {
	if a.exists {
		return true
	}
	k := accountKey(sub.typ, sub.data)
	if ac, ok := c.s.provisioned[k]; ok {
		a.st = acctState{Type: sub.typ, Data: sub.data, Avail: ac.Balance.amounts(), Blocked: ac.Blocked}
	} else if c.s.cfg.LabMode {
		a.st = acctState{Type: sub.typ, Data: sub.data, Avail: c.s.cfg.StartingBalance.amounts()}
	} else {
		return false
	}
	a.exists, w.acct = true, true
	return true
}

// provision adds the configured accounts Redis does not hold, and sets
// Blocked on those it does from configuration; an existing account keeps
// its balances (the configured balance is a starting balance, and other
// agents may have charged it). Accounts that could not be provisioned now
// (Redis down) are added by their first request; Blocked is then applied
// at the next start with Redis up.
func (c *sharedCredit) provision() {
	for k, ac := range c.s.provisioned {
		sub := subscription{typ: subscriptionTypes[ac.Type], data: ac.Data}
		_, err := c.apply(k, func(a *shAcct, w *writes) ([]byte, error) {
			if !a.exists {
				c.create(a, sub, w)
				return nil, nil
			}
			if a.st.Blocked != ac.Blocked {
				a.st.Blocked, w.acct = ac.Blocked, true
			}
			if a.st.Avail != ac.Balance.amounts() {
				c.s.log.Debug("ocs: account already in the credit store; its balance is kept, not the configured one",
					"type", ac.Type, "data", ac.Data)
			}
			return nil, nil
		})
		if errors.Is(err, state.ErrUnavailable) {
			// Each further try would wait for the timeout too.
			c.s.log.Warn("ocs: credit store unavailable at start; configured accounts are added by their first request", "err", err)
			return
		}
		if err != nil {
			c.s.log.Warn("ocs: provisioning account in the credit store; retried by its first request", "type", ac.Type, "data", ac.Data, "err", err)
		}
	}
}

// account returns the view of a subscriber's account.
func (c *sharedCredit) account(typ uint32, data string) (AccountInfo, bool, error) {
	var info AccountInfo
	var ok bool
	key := accountKey(typ, data)
	a := c.get(key)
	a.mu.Lock()
	a.loaded = false // read the balance, not this agent's copy of it
	a.mu.Unlock()
	_, err := c.apply(key, func(a *shAcct, w *writes) ([]byte, error) {
		if !a.exists {
			return nil, nil
		}
		ok = true
		var res amounts
		for _, ss := range a.sessions {
			r := ss.st.reserved()
			for k := range r {
				res[k] += r[k]
			}
		}
		info = AccountInfo{Available: toBalance(a.st.Avail), Reserved: toBalance(res), Used: toBalance(a.st.Used),
			Blocked: a.st.Blocked, Sessions: len(a.sessions)}
		return nil, nil
	})
	return info, ok, err
}
