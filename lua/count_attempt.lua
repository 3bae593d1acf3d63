-- count_attempt: one login or register attempt, counted per email and per client address in fixed
-- windows; refused while either count has reached its cap (a refused attempt is not counted).
--
-- KEYS[1] attempts counter of the email (string; expires with its window)
-- KEYS[2] attempts counter of the client address (string; expires with its window)
-- ARGV[1] window length, ms
-- ARGV[2] attempts allowed per email per window (0: no cap)
-- ARGV[3] attempts allowed per address per window (0: no cap)
-- Returns: ok {} | too_many_attempts {message, retryAfterMs}
-- Events: none

local window_ms = tonumber(ARGV[1])
local caps = {tonumber(ARGV[2]), tonumber(ARGV[3])}

local retry_after_ms = 0
for i = 1, 2 do
  if caps[i] > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= caps[i] then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = window_ms end
    if ttl > retry_after_ms then retry_after_ms = ttl end
  end
end
if retry_after_ms > 0 then
  return {'too_many_attempts', obj({'message', S('too many attempts; retry later'),
    'retryAfterMs', int(retry_after_ms)})}
end

for i = 1, 2 do
  if caps[i] > 0 and redis.call('INCR', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], window_ms)
  end
end
return ok('{}')
