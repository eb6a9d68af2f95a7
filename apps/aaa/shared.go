package aaa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/state"
)

// The shared store keeps the sessions in Redis, so that every agent on
// the same Redis (and key prefix) serves the same sessions from one
// address pool: an AAR on one agent, its STR or a re-authorization on
// another.
//
// Layout. Every key has the hash tag {pool}, so that one script may touch
// a session and the pool together, on Cluster too (the pool is one slot):
//
//	aaa:{pool}:s:<sid>      a session (hash: user, nh, nr, addr, ipn (the
//	                        address as a number), started, exp; times in
//	                        Unix ms, exp -1 none)
//	aaa:{pool}:a:<addr>     the Session-Id holding addr: the truth
//	aaa:{pool}:used:<cidr>  bitmap of the offsets in cidr handed out or
//	                        seen held: the hint a first-free search
//	                        (BITPOS) starts from
//	aaa:{pool}:pools        every bitmap ever used -> "first size"
//	aaa:{pool}:exp          sorted set of every Session-Id by expiry
//	                        (+inf: none)
//	aaa:{pool}:e:<sid>      a session ended by STR: its User-Name, kept
//	                        endedTTL for resent STRs and late AARs
//
// Allocation is one script (authorizeScript): the first clear bit is set,
// and its address is taken only when no session holds it (SETNX on the
// address key), else the search goes on; the session is written in the
// same script. An address is thus never held by two sessions, and a
// changed pool (another cidr, another bitmap, on one agent or all) still
// skips the addresses sessions of the old one hold. A resent AAR finds
// the session and gets its address. Releases (STR, ASA, expiry) are one
// script too (removeScript): session, address key, the address's bit in
// every bitmap covering it, and, for an STR, the ended key.
//
// Expiry. Every agent's expiry loop sweeps the sessions due (sweepScript),
// whoever opened them: no agent need outlive its sessions.
//
// Failure. A Redis error is answered 5012 with Error-Message; an AAR is
// answered 2001 only once its script returned. A script whose reply was
// lost may have committed a session: its resent AAR gets the same
// address, else the address is held until the session expires.
type sharedStore struct {
	s       *Server
	st      *state.Redis
	c       redis.UniversalClient
	base    string // prefix + "aaa:{pool}"
	used    string // this config's bitmap
	exp     string
	first   uint32
	size    uint32
	timeout time.Duration
}

var _ sessionStore = (*sharedStore)(nil)

// NewShared is New with the sessions and the address pool kept in Redis
// (st), shared with every agent on the same Redis and key prefix. The
// server does not close st.
func NewShared(cfg Config, id Identity, orig Originator, st *state.Redis, log *slog.Logger) (*Server, error) {
	s, err := newServer(cfg, id, orig, log)
	if err != nil {
		return nil, err
	}
	prefix, _ := parsePool(cfg.Pool)
	pl := newPool(prefix)
	base := state.Key(st.KeyPrefix(), "aaa", "pool")
	s.store = &sharedStore{s: s, st: st, c: st.Client(), base: base,
		used: base + ":used:" + prefix.String(), exp: base + ":exp",
		first: pl.first, size: pl.size, timeout: st.Timeout()}
	s.log.Info("aaa started, sessions on redis", "users", s.users.Len(), "pool", prefix.String())
	s.start()
	return s, nil
}

func (r *sharedStore) sessKey(id string) string  { return r.base + ":s:" + id }
func (r *sharedStore) endedKey(id string) string { return r.base + ":e:" + id }

func (r *sharedStore) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.timeout)
}

// luaRelease removes the session whose HMGET is cur (KEYS and ARGV as
// removeScript's), freeing its address in every pool's bitmap that
// covers it.
const luaRelease = `
local function release(sk, sid, cur)
  redis.call('DEL', sk)
  redis.call('ZREM', KEYS[3], sid)
  local ak = ARGV[1] .. ':a:' .. cur[4]
  if redis.call('GET', ak) == sid then redis.call('DEL', ak) end
  local n = tonumber(cur[7])
  if not n then return end
  local pools = redis.call('HGETALL', ARGV[1] .. ':pools')
  for i = 1, #pools, 2 do
    local sp = string.find(pools[i+1], ' ')
    local f, size = tonumber(string.sub(pools[i+1], 1, sp - 1)), tonumber(string.sub(pools[i+1], sp + 1))
    if n >= f and n < f + size then redis.call('SETBIT', pools[i], n - f, 0) end
  end
end
local fields = {'user', 'nh', 'nr', 'addr', 'started', 'exp', 'ipn'}
`

// authorizeScript: KEYS session, ended, bitmap, expiry set; ARGV base,
// sid, user, nas host, nas realm, now (ms), first address, pool size,
// Session-Timeout (ms, 0 none), Authorization-Lifetime + grace (ms, 0
// none). Returns {1, addr, started, exp}, {-1} ended, {-2} another user,
// {-3} pool exhausted.
var authorizeScript = redis.NewScript(`
local now = tonumber(ARGV[6])
local function expiry(started)
  local e = -1
  local st, al = tonumber(ARGV[9]), tonumber(ARGV[10])
  if st > 0 then e = started + st end
  if al > 0 and (e < 0 or now + al < e) then e = now + al end
  return e
end
local function track(e)
  if e < 0 then
    redis.call('ZADD', KEYS[4], '+inf', ARGV[2])
  else
    redis.call('ZADD', KEYS[4], string.format('%d', e), ARGV[2])
  end
end
local function ip(n)
  return string.format('%d.%d.%d.%d', math.floor(n / 16777216) % 256,
    math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local cur = redis.call('HMGET', KEYS[1], 'user', 'addr', 'started')
if cur[1] then
  if cur[1] ~= ARGV[3] then return {-2} end
  local started = tonumber(cur[3])
  local e = expiry(started)
  redis.call('HSET', KEYS[1], 'nh', ARGV[4], 'nr', ARGV[5], 'exp', string.format('%d', e))
  track(e)
  return {1, cur[2], started, e}
end
local first, size = tonumber(ARGV[7]), tonumber(ARGV[8])
redis.call('HSET', ARGV[1] .. ':pools', KEYS[3], ARGV[7] .. ' ' .. ARGV[8])
local from = 0
while from < size do
  local off = redis.call('BITPOS', KEYS[3], 0, math.floor(from / 8))
  if off < 0 then off = from end
  if off >= size then break end
  redis.call('SETBIT', KEYS[3], off, 1)
  local a = ip(first + off)
  if redis.call('SETNX', ARGV[1] .. ':a:' .. a, ARGV[2]) == 1 then
    local e = expiry(now)
    redis.call('HSET', KEYS[1], 'user', ARGV[3], 'nh', ARGV[4], 'nr', ARGV[5], 'addr', a,
      'started', ARGV[6], 'exp', string.format('%d', e), 'ipn', string.format('%d', first + off))
    track(e)
    return {1, a, now, e}
  end
  from = off + 1
end
return {-3}
`)

// removeScript: KEYS session, ended, expiry set; ARGV base, sid, mode
// ("end" or "release"), ended TTL (ms). Returns {1, user, nh, nr, addr,
// started, exp} for the removed session, {2, user} for a session already
// ended (mode "end"), {0} for none.
var removeScript = redis.NewScript(luaRelease + `
local cur = redis.call('HMGET', KEYS[1], unpack(fields))
if not cur[1] then
  if ARGV[3] == 'end' then
    local u = redis.call('GET', KEYS[2])
    if u then return {2, u} end
  end
  return {0}
end
release(KEYS[1], ARGV[2], cur)
if ARGV[3] == 'end' then redis.call('SET', KEYS[2], cur[1], 'PX', ARGV[4]) end
return {1, cur[1], cur[2], cur[3], cur[4], cur[5], cur[6]}
`)

// sweepScript: KEYS unused, unused, expiry set; ARGV base, now (ms), at
// most how many. Returns {released, looked at}.
var sweepScript = redis.NewScript(luaRelease + `
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, sid in ipairs(ids) do
  local sk = ARGV[1] .. ':s:' .. sid
  local cur = redis.call('HMGET', sk, unpack(fields))
  if cur[1] then
    release(sk, sid, cur)
    n = n + 1
  else
    redis.call('ZREM', KEYS[3], sid)
  end
end
return {n, #ids}
`)

// sweepBatch bounds the sessions one sweep script releases.
const sweepBatch = 256

func (r *sharedStore) expiryArgs() (st, al int64) {
	if r.s.cfg.SessionTimeout > 0 {
		st = max(r.s.cfg.SessionTimeout.Milliseconds(), 1)
	}
	if r.s.cfg.AuthorizationLifetime > 0 {
		al = max((r.s.cfg.AuthorizationLifetime + r.s.cfg.AuthGracePeriod).Milliseconds(), 1)
	}
	return st, al
}

func (r *sharedStore) authorize(id, user, nasHost, nasRealm string, now time.Time) (*Session, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	st, al := r.expiryArgs()
	res, err := authorizeScript.Run(ctx, r.c, []string{r.sessKey(id), r.endedKey(id), r.used, r.exp},
		r.base, id, user, nasHost, nasRealm, now.UnixMilli(), r.first, r.size, st, al).Slice()
	if err := r.st.Err(ctx, "aaa authorize", err); err != nil {
		return nil, err
	}
	code, _ := elem[int64](res, 0)
	switch code {
	case -1:
		return nil, errSessionEnded
	case -2:
		return nil, errUserMismatch
	case -3:
		return nil, errPoolExhausted
	}
	addr, ok1 := elem[string](res, 1)
	started, ok2 := elem[int64](res, 2)
	exp, ok3 := elem[int64](res, 3)
	if code != 1 || !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("aaa: redis authorize: unexpected reply %v", res)
	}
	return &Session{ID: id, User: user, NASHost: nasHost, NASRealm: nasRealm, Addr: addr,
		Started: started * 1e6, ExpiresAt: expiresAt(exp)}, nil
}

// expiresAt converts a stored expiry (ms, negative for none).
func expiresAt(ms int64) uint64 {
	if ms < 0 {
		return noExpiry
	}
	return uint64(ms) * 1e6
}

// elem is res[i] as a T.
func elem[T any](res []any, i int) (T, bool) {
	var zero T
	if i >= len(res) {
		return zero, false
	}
	v, ok := res[i].(T)
	return v, ok
}

func (r *sharedStore) remove(id, mode string) ([]any, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	res, err := removeScript.Run(ctx, r.c, []string{r.sessKey(id), r.endedKey(id), r.exp},
		r.base, id, mode, endedTTL.Milliseconds()).Slice()
	if err := r.st.Err(ctx, "aaa "+mode, err); err != nil {
		return nil, err
	}
	return res, nil
}

// removed is the session a removeScript reply {1, user, nh, nr, addr,
// started, exp} names.
func removed(id string, res []any) (*Session, error) {
	var f [6]string
	for i := range f {
		v, ok := elem[string](res, i+1)
		if !ok {
			return nil, fmt.Errorf("aaa: redis remove: unexpected reply %v", res)
		}
		f[i] = v
	}
	return parseSession(id, f)
}

// parseSession builds a session from user, nh, nr, addr, started, exp.
func parseSession(id string, f [6]string) (*Session, error) {
	started, err1 := strconv.ParseInt(f[4], 10, 64)
	exp, err2 := strconv.ParseInt(f[5], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("aaa: redis session %q: %w", id, err)
	}
	return &Session{ID: id, User: f[0], NASHost: f[1], NASRealm: f[2], Addr: f[3],
		Started: started * 1e6, ExpiresAt: expiresAt(exp)}, nil
}

func (r *sharedStore) end(id string, _ time.Time) (*Session, string, error) {
	res, err := r.remove(id, "end")
	if err != nil {
		return nil, "", err
	}
	switch code, _ := elem[int64](res, 0); code {
	case 0:
		return nil, "", nil
	case 2:
		u, _ := elem[string](res, 1)
		return nil, u, nil
	}
	sess, err := removed(id, res)
	return sess, "", err
}

func (r *sharedStore) release(id string) (*Session, error) {
	res, err := r.remove(id, "release")
	if err != nil {
		return nil, err
	}
	if code, _ := elem[int64](res, 0); code == 0 {
		return nil, nil
	}
	return removed(id, res)
}

func (r *sharedStore) get(id string) (*Session, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	v, err := r.c.HMGet(ctx, r.sessKey(id), "user", "nh", "nr", "addr", "started", "exp").Result()
	if err := r.st.Err(ctx, "aaa get", err); err != nil {
		return nil, err
	}
	return sessionOf(id, v)
}

// sessionOf is the session an HMGET of user, nh, nr, addr, started, exp
// returned: nil when there is none (or one being removed).
func sessionOf(id string, v []any) (*Session, error) {
	var f [6]string
	for i := range f {
		s, ok := elem[string](v, i)
		if !ok {
			return nil, nil
		}
		f[i] = s
	}
	return parseSession(id, f)
}

// all reads the sessions the expiry set names, their hashes in one
// pipeline.
func (r *sharedStore) all() ([]Session, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	ids, err := r.c.ZRange(ctx, r.exp, 0, -1).Result()
	if err := r.st.Err(ctx, "aaa sessions", err); err != nil {
		return nil, err
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, r.sessKey(id), "user", "nh", "nr", "addr", "started", "exp")
		}
		return nil
	})
	if err := r.st.Err(ctx, "aaa sessions", err); err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(ids))
	for i, id := range ids {
		s, err := sessionOf(id, cmds[i].Val())
		if err != nil {
			return out, err
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, nil
}

func (r *sharedStore) expire(now time.Time) (int, error) {
	total := 0
	for {
		ctx, cancel := r.ctx()
		res, err := sweepScript.Run(ctx, r.c, []string{r.exp, r.exp, r.exp}, r.base, now.UnixMilli(), sweepBatch).Int64Slice()
		err = r.st.Err(ctx, "aaa expire", err)
		cancel()
		if err != nil {
			return total, err
		}
		if len(res) != 2 {
			return total, fmt.Errorf("aaa: redis expire: unexpected reply %v", res)
		}
		total += int(res[0])
		if res[1] < sweepBatch {
			return total, nil
		}
	}
}

func (r *sharedStore) close() error { return nil }
