-- query_invoices: one page of invoices from an index zset, filtered, in index order. Read-only.
-- Pages are keyed by a cursor "score:member" (the last invoice of the previous page), which is
-- stable under inserts, unlike an offset. Examines at most scan_max index entries per call.
--
-- KEYS[1] index_key: index zset (listed by created/amount/due, or a user's invoices by created)
-- ARGV[1] order: asc | desc
-- ARGV[2] score_min: lowest index score to include ('-inf' for none)
-- ARGV[3] score_max: highest index score to include ('+inf' for none)
-- ARGV[4] cursor_score: cursor score ('' for the first page)
-- ARGV[5] cursor_member: cursor member ('' for the first page)
-- ARGV[6] limit: page size
-- ARGV[7] scan_max: index entries to examine at most
-- ARGV[8] min_amount: filter: amount at least, paise ('' none)
-- ARGV[9] max_amount: filter: amount at most, paise ('' none)
-- ARGV[10] due_after_ms: filter: due at or after, epoch ms ('' none)
-- ARGV[11] due_before_ms: filter: due at or before, epoch ms ('' none)
-- ARGV[12] seller_id: filter: seller id ('' none)
-- ARGV[13] buyer_id: filter: buyer id ('' none)
-- ARGV[14] status: filter: status ('' none)
-- Derived keys: each invoice's hash.
-- Returns: ok {invoices, nextCursor}
-- Events: none

local index_key = KEYS[1]
local order = ARGV[1]
local score_min = ARGV[2]
local score_max = ARGV[3]
local cursor_score = ARGV[4]
local cursor_member = ARGV[5]
local limit = tonumber(ARGV[6])
local scan_max = tonumber(ARGV[7])
local min_amount = tonumber(ARGV[8])
local max_amount = tonumber(ARGV[9])
local due_after_ms = tonumber(ARGV[10])
local due_before_ms = tonumber(ARGV[11])
local seller_id = ARGV[12]
local buyer_id = ARGV[13]
local status = ARGV[14]

local asc = order == 'asc'
local low, high = score_min, score_max

if cursor_score ~= '' then
  if asc then low = cursor_score else high = cursor_score end
end

local function wanted(t)
  if not t.id then return false end
  local amount, due = tonumber(t.amount), tonumber(t.dueAt)
  if min_amount and amount < min_amount then return false end
  if max_amount and amount > max_amount then return false end
  if due_after_ms and due < due_after_ms then return false end
  if due_before_ms and due > due_before_ms then return false end
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
    batch = redis.call('ZRANGEBYSCORE', index_key, low, high, 'WITHSCORES', 'LIMIT', offset, 100)
  else
    batch = redis.call('ZREVRANGEBYSCORE', index_key, high, low, 'WITHSCORES', 'LIMIT', offset, 100)
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
