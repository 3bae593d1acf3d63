-- query_invoices: one page of invoices from an index zset, filtered, in index order. Read-only.
-- Pages are keyed by a cursor "score:member" (the last invoice of the previous page), which is
-- stable under inserts, unlike an offset. Examines at most ARGV[7] index entries per call.
--
-- KEYS[1] index zset (listed by created/amount/due, or a user's invoices by created)
-- ARGV[1] order: asc | desc
-- ARGV[2] lowest index score to include ('-inf' for none)
-- ARGV[3] highest index score to include ('+inf' for none)
-- ARGV[4] cursor score ('' for the first page)
-- ARGV[5] cursor member ('' for the first page)
-- ARGV[6] page size
-- ARGV[7] index entries to examine at most
-- ARGV[8] filter: amount at least, paise ('' none)
-- ARGV[9] filter: amount at most, paise ('' none)
-- ARGV[10] filter: due at or after, epoch ms ('' none)
-- ARGV[11] filter: due at or before, epoch ms ('' none)
-- ARGV[12] filter: seller id ('' none)
-- ARGV[13] filter: buyer id ('' none)
-- ARGV[14] filter: status ('' none)
-- Derived keys: each invoice's hash.
-- Returns: ok {invoices, nextCursor}
-- Events: none

local asc = ARGV[1] == 'asc'
local low, high = ARGV[2], ARGV[3]
local cursor_score, cursor_member = ARGV[4], ARGV[5]
local limit, scan_max = tonumber(ARGV[6]), tonumber(ARGV[7])
local min_amount, max_amount = tonumber(ARGV[8]), tonumber(ARGV[9])
local due_after, due_before = tonumber(ARGV[10]), tonumber(ARGV[11])
local seller_id, buyer_id, status = ARGV[12], ARGV[13], ARGV[14]

if cursor_score ~= '' then
  if asc then low = cursor_score else high = cursor_score end
end

local function wanted(t)
  if not t.id then return false end
  local amount, due = tonumber(t.amount), tonumber(t.dueAt)
  if min_amount and amount < min_amount then return false end
  if max_amount and amount > max_amount then return false end
  if due_after and due < due_after then return false end
  if due_before and due > due_before then return false end
  if seller_id ~= '' and t.sellerId ~= seller_id then return false end
  if buyer_id ~= '' and t.buyerId ~= buyer_id then return false end
  if status ~= '' and t.status ~= status then return false end
  return true
end

local page, examined, offset, last_score, last_member = {}, 0, 0, nil, nil
local exhausted = false
while #page < limit and examined < scan_max do
  local batch
  if asc then
    batch = redis.call('ZRANGEBYSCORE', KEYS[1], low, high, 'WITHSCORES', 'LIMIT', offset, 100)
  else
    batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], high, low, 'WITHSCORES', 'LIMIT', offset, 100)
  end
  if #batch == 0 then exhausted = true break end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local member, score = batch[i], batch[i + 1]
    -- entries tied with the cursor's score come in member order (reversed for desc)
    local before_cursor = cursor_score ~= '' and tonumber(score) == tonumber(cursor_score) and
      ((asc and member <= cursor_member) or (not asc and member >= cursor_member))
    if not before_cursor then
      examined = examined + 1
      local t = hgetall(KEY.invoice(member))
      if wanted(t) then page[#page + 1] = invoice_json(t) end
      last_score, last_member = score, member
      if #page >= limit or examined >= scan_max then break end
    end
  end
end

local next_cursor = NULL
if not exhausted and last_member then
  next_cursor = S(string.format('%d', tonumber(last_score)) .. ':' .. last_member)
end
return ok(obj({'invoices', arr(page), 'nextCursor', next_cursor}))
