-- list_investments: one page of an investor's investments, newest first, each with its invoice.
-- Read-only.
--
-- KEYS[1] investments_key: investor's investments (zset, score created ms)
-- ARGV[1] cursor: "score:member" of the last investment of the previous page ('' for the first)
-- ARGV[2] limit: page size
-- Derived keys: each investment's hash and its invoice's hash.
-- Returns: ok {investments, nextCursor}
-- Events: none

local investments_key = KEYS[1]
local cursor = ARGV[1]
local limit = tonumber(ARGV[2])

local high, skip_member = '+inf', nil
if cursor ~= '' then
  local sep = string.find(cursor, ':', 1, true)
  high, skip_member = string.sub(cursor, 1, sep - 1), string.sub(cursor, sep + 1)
end
-- over-read by the ties we may skip; ties are rare (same millisecond)
local rows = redis.call('ZREVRANGEBYSCORE', investments_key, high, '-inf', 'WITHSCORES',
  'LIMIT', 0, limit + 50)
local page, last, more = {}, nil, false
for i = 1, #rows, 2 do
  local member, score = rows[i], rows[i + 1]
  local skip = skip_member and tonumber(score) == tonumber(high) and member >= skip_member
  if not skip then
    if #page == limit then more = true break end
    local investment = hgetall(KEY.investment(member))
    local invoice = hgetall(KEY.invoice(investment.invoiceId))
    local json = investment_json(investment)
    page[#page + 1] = string.sub(json, 1, -2) .. ',"invoice":' .. invoice_json(invoice) .. '}'
    last = string.format('%d', tonumber(score)) .. ':' .. member
  end
end
local next_cursor = NULL
if more then next_cursor = S(last) end
return ok(obj({'investments', arr(page), 'nextCursor', next_cursor}))
