-- create_invoice: a seller lists an invoice on the market (status listed).
--
-- KEYS[1] the new invoice's hash
-- KEYS[2] seller's invoice-number hash (invoice number -> invoice id)
-- KEYS[3] listed invoices by created time (zset, score ms)
-- KEYS[4] listed invoices by amount (zset, score paise)
-- KEYS[5] listed invoices by due time (zset, score ms)
-- KEYS[6] seller's invoices (zset, score created ms)
-- KEYS[7] buyer's invoices (zset, score created ms)
-- KEYS[8] seller's stats hash
-- KEYS[9] buyer's stats hash
-- KEYS[10] buyer's user hash
-- KEYS[11] market event stream
-- KEYS[12] idempotency hash for this request
-- KEYS[13] the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] invoice id
-- ARGV[2] invoice number
-- ARGV[3] seller id
-- ARGV[4] seller display name
-- ARGV[5] buyer id
-- ARGV[6] amount (face value), paise
-- ARGV[7] ask amount, paise (<= amount)
-- ARGV[8] due date, ISO 8601 UTC
-- ARGV[9] due date, epoch ms
-- ARGV[10] description
-- ARGV[11] now, ISO 8601 UTC
-- ARGV[12] now, epoch ms
-- ARGV[13] today, YYYY-MM-DD (daily series)
-- ARGV[14] request body hash ('' when no Idempotency-Key)
-- ARGV[15] idempotency TTL, seconds
-- ARGV[16] market stream length max
-- ARGV[17] latest due date allowed, epoch ms
-- Returns: ok {invoice} | unauthorized | idempotency_key_reused | due_date_not_in_future | invalid_field |
--   invalid_buyer | duplicate_invoice
-- Events: newInvoiceListed (market)

local refused = caller_refused(KEYS[13], ARGV[3])
if refused then return refused end
local replay = idempotent_replay(KEYS[12], ARGV[14])
if replay then return replay end

-- checked here, after the replay, so that a retry with the same key still gets the first answer
local due_ms, now_ms = tonumber(ARGV[9]), tonumber(ARGV[12])
if due_ms <= now_ms then
  return refuse('due_date_not_in_future', 'dueDate must be in the future')
end
if due_ms > tonumber(ARGV[17]) then
  return refuse('invalid_field', 'dueDate is too far in the future')
end
local buyer = redis.call('HMGET', KEYS[10], 'role', 'displayName')
if buyer[1] ~= 'buyer' then
  return refuse('invalid_buyer', 'buyerId does not name a registered buyer')
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return refuse('duplicate_invoice', 'this seller has already listed this invoice number')
end

local amount = tonumber(ARGV[6])
local invoice = {
  id = ARGV[1], invoiceNumber = ARGV[2], sellerId = ARGV[3], seller = ARGV[4], buyerId = ARGV[5],
  buyer = buyer[2], amount = ARGV[6], askAmount = ARGV[7], currency = 'INR', dueDate = ARGV[8],
  dueAt = ARGV[9], status = 'listed', description = ARGV[10], createdAt = ARGV[11], createdAtMs = ARGV[12]}
local fields = {}
for field, value in pairs(invoice) do
  fields[#fields + 1] = field
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[12], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[12], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[12], ARGV[1])
bump(KEYS[8], 'listedCount', 1)
bump(KEYS[8], 'listedAmount', amount)
bump(KEYS[9], 'invoiceCount', 1)
bump(KEYS[9], 'invoiceAmount', amount)
bump_daily(ARGV[3], ARGV[13], 'listed', amount)

emit(KEYS[11], ARGV[16], 'newInvoiceListed', obj({
  'id', S(ARGV[1]), 'invoiceNumber', S(ARGV[2]), 'amount', N(ARGV[6]), 'askAmount', N(ARGV[7]),
  'seller', S(ARGV[4]), 'buyer', S(buyer[2]), 'dueDate', S(ARGV[8]), 'timestamp', S(ARGV[11])}))

local result = obj({'invoice', invoice_json(invoice)})
idempotent_store(KEYS[12], ARGV[14], result, ARGV[15])
return ok(result)
