package state

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis, one round trip each (EVALSHA; the
// script is sent once more with EVAL when the server does not know it,
// after a restart or a failover). Each touches one key.

// bindScript: KEYS[1] the binding; ARGV peer, TTL in ms. Returns
// {1, peer} when it bound, {0, bound peer} when a binding was there.
var bindScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ARGV[1]}
`)

// takeScript: KEYS[1] the bucket, a hash of t (tokens) and ts (the time
// of t, in microseconds of the server's clock, so that agents with
// different clocks agree); ARGV rate (tokens/s), burst, n. Returns
// {1, 0} when it took n tokens, {0, microseconds until n are there}
// otherwise. The key expires once the bucket would be full again, since a
// full bucket and no bucket are the same.
var takeScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local allowed = 0
local wait = 0
if tokens >= n then
  tokens = tokens - n
  allowed = 1
else
  wait = math.min(math.ceil((n - tokens) * 1000000 / rate), 1e15)
end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', string.format('%d', ts))
local ttl = math.min(math.ceil((burst - tokens) * 1000 / rate) + 1000, 2147483647)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return {allowed, wait}
`)
