package cdf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/state"
	"github.com/dra-project/dra/wire"
)

// The shared state keeps a stateful CDF's sessions and its record dedupe
// in Redis, so that every agent on the same Redis (and key prefix) runs
// one accounting state machine per Session-Id; each agent still writes
// the CDRs it accepts to its own journal. See the package documentation
// (# Several agents) for the ordering and what each crash leaves behind.
//
// Layout: one hash per session, prefix + "cdf:{Session-Id}":
//
//	st      the state: o (open), s (stopped), e (events only)
//	v       version, incremented by every accepted record
//	r:<n>   record n: "d" once its CDR is durable in some agent's
//	        journal, "p|<owner>|<ms>" while agent owner (Origin-Host "/"
//	        a random incarnation) writes it, ms the claim's time on the
//	        Redis server's clock
//
// The hash expires SessionTimeout after the last accepted record,
// whichever agent accepted it: that is the session timeout.
type sharedState struct {
	s       *Server
	st      *state.Redis
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration
	host    string // this agent's Origin-Host
	owner   string // host + "/" + incarnation
	claimTO time.Duration
	// waitMax bounds how long a request waits for another agent's
	// pending write before it is answered 3004.
	waitMax time.Duration

	mu      sync.Mutex
	leaders map[recordKey]*leader  // records being served here
	settle  map[recordKey]settleOp // marks Redis has not taken yet

	reconciled atomic.Bool
	stop, done chan struct{}

	// beforeMark, when set (tests), runs between a CDR's fsync and its
	// mark in Redis.
	beforeMark func(recordKey)
}

// leader is the one request serving a record on this agent; copies
// arriving meanwhile get its answer.
type leader struct {
	done chan struct{}
	code uint32
	err  *acrError
}

// settleOp is a mark to set once Redis is reachable again: done (the CDR
// is durable) or release (it is not) of the claim marker.
type settleOp struct {
	marker string
	done   bool
	ver    int64
	prev   string
}

// Claim replies.
const (
	claimed   = 0
	claimDone = 1
	claimUnk  = 2
	claimBusy = 3
)

// claimScript: KEYS[1] the session hash; ARGV record number, record type,
// owner, session timeout in ms. Returns {0, version, previous state,
// marker} when the record is accepted and claimed by owner, {1} when it
// was written, {2} when the state machine refuses it (5002), {3, marker,
// age in ms} when another claim is pending.
var claimScript = redis.NewScript(`
local f = 'r:' .. ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HGET', KEYS[1], f)
if m then
  if m == 'd' then return {1} end
  local at = tonumber(string.match(m, '|(%d+)$')) or 0
  return {3, m, now - at}
end
local st = redis.call('HGET', KEYS[1], 'st') or ''
local typ = tonumber(ARGV[2])
if typ == 1 or typ == 2 then
  if st == 's' then return {2} end
elseif st ~= 'o' then
  return {2}
end
local nst = st
if typ == 2 or typ == 3 then nst = 'o' elseif typ == 4 then nst = 's' elseif st == '' then nst = 'e' end
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
local mk = 'p|' .. ARGV[3] .. '|' .. now
redis.call('HSET', KEYS[1], 'st', nst, f, mk)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {0, v, st, mk}
`)

// takeoverScript: KEYS[1] the session hash; ARGV record number, the
// marker seen, the new owner. Returns the new marker when the record's
// marker was still the one seen, false otherwise.
var takeoverScript = redis.NewScript(`
local f = 'r:' .. ARGV[1]
if redis.call('HGET', KEYS[1], f) ~= ARGV[2] then return false end
local t = redis.call('TIME')
local mk = 'p|' .. ARGV[3] .. '|' .. (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HSET', KEYS[1], f, mk)
return mk
`)

// doneScript: KEYS[1] the session hash; ARGV record number, marker.
// Marks the record written when the marker is still ours (1), or already
// written (1); returns 0 when another owner holds it (taken over), 2 when
// the session is gone (expired).
var doneScript = redis.NewScript(`
local f = 'r:' .. ARGV[1]
local m = redis.call('HGET', KEYS[1], f)
if not m then return 2 end
if m == ARGV[2] or m == 'd' then
  redis.call('HSET', KEYS[1], f, 'd')
  return 1
end
return 0
`)

// releaseScript: KEYS[1] the session hash; ARGV record number, marker,
// version, previous state. Drops a claim whose CDR was not written and,
// when no record was accepted since (the version is still ours), restores
// the previous state (none: the hash is deleted).
var releaseScript = redis.NewScript(`
local f = 'r:' .. ARGV[1]
if redis.call('HGET', KEYS[1], f) ~= ARGV[2] then return 0 end
if ARGV[3] ~= '0' and redis.call('HGET', KEYS[1], 'v') == ARGV[3] then
  if ARGV[4] == '' then
    redis.call('DEL', KEYS[1])
    return 1
  end
  redis.call('HSET', KEYS[1], 'st', ARGV[4])
end
redis.call('HDEL', KEYS[1], f)
return 1
`)

// reconcileScript: KEYS[1] the session hash; ARGV record number, the
// marker prefix of this agent's host ("p|host/"). Marks the record
// written when a former run of this agent claimed it.
var reconcileScript = redis.NewScript(`
local f = 'r:' .. ARGV[1]
local m = redis.call('HGET', KEYS[1], f)
if m and string.sub(m, 1, #ARGV[2]) == ARGV[2] then
  redis.call('HSET', KEYS[1], f, 'd')
  return 1
end
return 0
`)

func newSharedState(s *Server, st *state.Redis) *sharedState {
	var inc [6]byte
	_, _ = rand.Read(inc[:])
	sh := &sharedState{
		s: s, st: st, c: st.Client(), prefix: st.KeyPrefix(), timeout: st.Timeout(),
		host:    s.id.OriginHost,
		owner:   s.id.OriginHost + "/" + hex.EncodeToString(inc[:]),
		claimTO: s.cfg.claimTimeout(),
		leaders: map[recordKey]*leader{}, settle: map[recordKey]settleOp{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	sh.waitMax = min(sh.claimTO, 2*time.Second)
	if err := sh.reconcile(); err != nil {
		s.log.Warn("cdf: record claims of a former run not reconciled (redis); retried in the background", "err", err)
	}
	go sh.run()
	return sh
}

func (sh *sharedState) key(sid string) string { return state.Key(sh.prefix, "cdf", sid) }

func (sh *sharedState) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sh.timeout)
}

func (sh *sharedState) close() {
	close(sh.stop)
	<-sh.done
}

// run retries the marks Redis missed and the reconciliation.
func (sh *sharedState) run() {
	defer close(sh.done)
	t := time.NewTicker(min(max(sh.claimTO/20, 20*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-sh.stop:
			return
		case <-t.C:
			if !sh.reconciled.Load() {
				_ = sh.reconcile()
			}
			sh.settleAll()
		}
	}
}

// settleAll retries the pending marks.
func (sh *sharedState) settleAll() {
	sh.mu.Lock()
	ops := make(map[recordKey]settleOp, len(sh.settle))
	for k, op := range sh.settle {
		ops[k] = op
	}
	sh.mu.Unlock()
	for k, op := range ops {
		if err := sh.apply(k, op); err != nil {
			return // still unavailable
		}
	}
}

// apply sets op's mark in Redis and forgets it.
func (sh *sharedState) apply(k recordKey, op settleOp) error {
	var err error
	if op.done {
		err = sh.markDone(k, op.marker)
	} else {
		err = sh.release(k, op)
	}
	if err != nil {
		return err
	}
	sh.mu.Lock()
	if cur, ok := sh.settle[k]; ok && cur == op {
		delete(sh.settle, k)
	}
	sh.mu.Unlock()
	return nil
}

// later keeps op for the background retry.
func (sh *sharedState) later(k recordKey, op settleOp, err error) {
	sh.s.log.Warn("cdf: record mark not stored in redis; retried", "session", k.sid, "record", k.num, "written", op.done, "err", err)
	sh.mu.Lock()
	sh.settle[k] = op
	sh.mu.Unlock()
}

// reconcile marks written, in Redis, the records of the journal files
// that may hold claims of a former run of this agent (modified within the
// session timeout) whose claim is still that run's: it crashed after its
// journal write and before its mark. A claim of a former run left
// pending after this is for a CDR that was not written.
func (sh *sharedState) reconcile() error {
	fs, err := listFiles(sh.s.cfg.DataDir)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-sh.s.cfg.sessionTimeout())
	prefix := "p|" + sh.host + "/"
	var batch []recordKey
	marked := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), sh.timeout+time.Duration(len(batch))*time.Millisecond)
		defer cancel()
		cmds := make([]*redis.Cmd, len(batch))
		_, err := sh.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range batch {
				cmds[i] = reconcileScript.Eval(ctx, p, []string{sh.key(k.sid)}, k.num, prefix)
			}
			return nil
		})
		if err := sh.st.Err(ctx, "cdf reconcile", err); err != nil {
			return err
		}
		for _, c := range cmds {
			if n, _ := c.Int64(); n == 1 {
				marked++
			}
		}
		batch = batch[:0]
		return nil
	}
	for _, f := range fs {
		if st, err := os.Stat(f.Path); err == nil && st.ModTime().Before(cutoff) {
			continue
		}
		if err := readFile(f.Path, func(r Record) error {
			batch = append(batch, recordKey{r.SessionID, r.RecordNumber})
			if len(batch) >= 512 {
				return flush()
			}
			return nil
		}); err != nil {
			return fmt.Errorf("cdf: reconcile claims: %w", err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	sh.reconciled.Store(true)
	if marked > 0 {
		sh.s.log.Info("cdf: records written by a former run marked written in redis", "records", marked)
	}
	return nil
}

// errStore is the answer while Redis cannot be reached.
func errStore(code uint32, msg string) *acrError { return &acrError{code: code, msg: msg} }

// account serves rec on the shared state: at most one request per record
// on this agent talks to Redis, copies arriving meanwhile get its answer.
func (sh *sharedState) account(rec Record) (uint32, *acrError) {
	k := recordKey{rec.SessionID, rec.RecordNumber}
	sh.mu.Lock()
	if l := sh.leaders[k]; l != nil {
		sh.mu.Unlock()
		<-l.done
		if l.code == wire.ResultSuccess {
			sh.s.stats.Duplicates.Add(1)
		}
		return l.code, l.err
	}
	l := &leader{done: make(chan struct{})}
	sh.leaders[k] = l
	sh.mu.Unlock()
	l.code, l.err = sh.serve(k, rec)
	sh.mu.Lock()
	delete(sh.leaders, k)
	sh.mu.Unlock()
	close(l.done)
	return l.code, l.err
}

// claim is claimScript's reply.
type claim struct {
	kind   int64
	ver    int64
	prev   string
	marker string
	age    time.Duration
}

func (sh *sharedState) claim(k recordKey, typ uint32) (claim, error) {
	ctx, cancel := sh.ctx()
	defer cancel()
	res, err := claimScript.Run(ctx, sh.c, []string{sh.key(k.sid)}, k.num, typ, sh.owner,
		sh.s.cfg.sessionTimeout().Milliseconds()).Slice()
	if err := sh.st.Err(ctx, "cdf claim", err); err != nil {
		return claim{}, err
	}
	var c claim
	if len(res) == 0 {
		return c, fmt.Errorf("cdf: claim: empty reply")
	}
	c.kind, _ = res[0].(int64)
	switch {
	case c.kind == claimed && len(res) == 4:
		c.ver, _ = res[1].(int64)
		c.prev, _ = res[2].(string)
		c.marker, _ = res[3].(string)
	case c.kind == claimBusy && len(res) == 3:
		c.marker, _ = res[1].(string)
		ms, _ := res[2].(int64)
		c.age = time.Duration(ms) * time.Millisecond
	case c.kind == claimDone || c.kind == claimUnk:
	default:
		return c, fmt.Errorf("cdf: claim: unexpected reply %v", res)
	}
	return c, nil
}

func (sh *sharedState) takeover(k recordKey, seen string) (string, bool, error) {
	ctx, cancel := sh.ctx()
	defer cancel()
	mk, err := takeoverScript.Run(ctx, sh.c, []string{sh.key(k.sid)}, k.num, seen, sh.owner).Text()
	if err := sh.st.Err(ctx, "cdf takeover", err); err != nil {
		return "", false, err
	}
	return mk, mk != "", nil
}

func (sh *sharedState) markDone(k recordKey, marker string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	n, err := doneScript.Run(ctx, sh.c, []string{sh.key(k.sid)}, k.num, marker).Int64()
	if err := sh.st.Err(ctx, "cdf done", err); err != nil {
		return err
	}
	if n == 0 {
		sh.s.log.Error("cdf: record written here after another agent took its claim over; it may be in two journals",
			"session", k.sid, "record", k.num)
	}
	return nil
}

func (sh *sharedState) release(k recordKey, op settleOp) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	err := releaseScript.Run(ctx, sh.c, []string{sh.key(k.sid)}, k.num, op.marker, op.ver, op.prev).Err()
	return sh.st.Err(ctx, "cdf release", err)
}

// owner splits a marker "p|host/inc|ms" into its owner's host and
// incarnation.
func markerOwner(m string) (host, owner string) {
	m = strings.TrimPrefix(m, "p|")
	if i := strings.LastIndexByte(m, '|'); i >= 0 {
		m = m[:i]
	}
	owner = m
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[:i]
	}
	return m, owner
}

// serve claims k in Redis, writes its CDR and marks it written.
func (sh *sharedState) serve(k recordKey, rec Record) (uint32, *acrError) {
	line, err := rec.MarshalJSON()
	if err != nil {
		sh.s.log.Error("cannot encode CDR", "err", err, "session", rec.SessionID)
		sh.s.stats.Invalid.Add(1)
		return wire.ResultUnableToComply, nil
	}
	unavailable := func(err error) (uint32, *acrError) {
		sh.s.stats.Invalid.Add(1)
		sh.s.log.Warn("cdf: shared state unavailable", "session", k.sid, "record", k.num, "err", err)
		return wire.ResultUnableToComply, errStore(wire.ResultUnableToComply, "accounting state store unavailable")
	}
	deadline := time.Now().Add(sh.waitMax)
	for {
		c, err := sh.claim(k, rec.RecordType)
		if err != nil {
			return unavailable(err)
		}
		switch c.kind {
		case claimDone:
			sh.s.stats.Duplicates.Add(1)
			return wire.ResultSuccess, nil
		case claimUnk:
			sh.s.stats.Unknown.Add(1)
			return wire.ResultUnknownSessionID, nil
		case claimed:
			return sh.write(k, rec, line, settleOp{marker: c.marker, ver: c.ver, prev: c.prev})
		}
		// Pending: another claim holds the record.
		host, owner := markerOwner(c.marker)
		if owner == sh.owner {
			// This run wrote it and Redis missed the mark, or its
			// journal failed and Redis missed the release.
			sh.mu.Lock()
			op, ok := sh.settle[k]
			sh.mu.Unlock()
			if ok && op.done {
				if err := sh.apply(k, op); err != nil {
					sh.s.log.Debug("cdf: mark still not stored", "err", err)
				}
				sh.s.stats.Duplicates.Add(1)
				return wire.ResultSuccess, nil
			}
		}
		if owner == sh.owner || (host == sh.host && sh.reconciled.Load()) || c.age >= sh.claimTO {
			// Not written: this run's failed write, a former run's
			// claim the reconciliation did not find in the journal,
			// or a claimer taken as gone.
			mk, ok, err := sh.takeover(k, c.marker)
			if err != nil {
				return unavailable(err)
			}
			if ok {
				if owner != sh.owner {
					sh.s.log.Warn("cdf: record claimed by an agent taken as gone; written here", "session", k.sid,
						"record", k.num, "claimer", owner, "claim_age", c.age)
				}
				return sh.write(k, rec, line, settleOp{marker: mk})
			}
			continue
		}
		if time.Now().After(deadline) {
			sh.s.stats.Invalid.Add(1)
			return wire.ResultTooBusy, errStore(wire.ResultTooBusy, "record being written by agent "+host)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// write appends rec's CDR, waits for its fsync and marks it written in
// Redis; a CDR that could not be written releases its claim.
func (sh *sharedState) write(k recordKey, rec Record, line []byte, op settleOp) (uint32, *acrError) {
	s := sh.s
	if err := s.journal.append(line).wait(); err != nil {
		op.done = false
		if rerr := sh.release(k, op); rerr != nil {
			sh.later(k, op, rerr)
		}
		return s.writeFailed(rec, err), nil
	}
	s.stats.Written.Add(1)
	op.done = true
	if sh.beforeMark != nil {
		sh.beforeMark(k)
	}
	if err := sh.markDone(k, op.marker); err != nil {
		// The CDR is durable: answer 2001; the mark is retried, and a
		// retransmission to another agent waits for it.
		sh.later(k, op, err)
	}
	return wire.ResultSuccess, nil
}
