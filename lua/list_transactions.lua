-- list_transactions: one page of a wallet's ledger entries, newest first. Read-only.
--
-- KEYS[1] entries_key: the account's ledger entries stream
-- ARGV[1] before: return entries older than this entry id ('' for the newest)
-- ARGV[2] limit: page size
-- Returns: ok {transactions, nextCursor}
-- Events: none

local entries_key = KEYS[1]
local before = ARGV[1]
local limit = tonumber(ARGV[2])

local newest = '+'
if before ~= '' then newest = '(' .. before end
local entries = redis.call('XREVRANGE', entries_key, newest, '-', 'COUNT', limit + 1)
local page = {}
for i = 1, math.min(#entries, limit) do
  local flat, t = entries[i][2], {}
  for j = 1, #flat, 2 do t[flat[j]] = flat[j + 1] end
  page[#page + 1] = transaction_json(entries[i][1], t)
end
local next_cursor = NULL
if #entries > limit then next_cursor = S(entries[limit][1]) end
return ok(obj({'transactions', arr(page), 'nextCursor', next_cursor}))
