-- create_invoice: a seller lists an invoice on the market (status listed), or, where buyers must
-- accept invoices first (BUYER_ACCEPTANCE=required), submits it to its buyer (pending_acceptance).
--
-- KEYS[1] invoice_key: the new invoice's hash
-- KEYS[2] invoice_numbers_key: seller's invoice-number hash (invoice number -> invoice id)
-- KEYS[3] listed_by_created_key: listed invoices by created time (zset, score ms)
-- KEYS[4] listed_by_amount_key: listed invoices by amount (zset, score paise)
-- KEYS[5] listed_by_due_key: listed invoices by due time (zset, score ms)
-- KEYS[6] seller_invoices_key: seller's invoices (zset, score created ms)
-- KEYS[7] buyer_invoices_key: buyer's invoices (zset, score created ms)
-- KEYS[8] seller_stats_key: seller's stats hash
-- KEYS[9] buyer_stats_key: buyer's stats hash
-- KEYS[10] buyer_user_key: buyer's user hash
-- KEYS[11] market_stream_key: market event stream
-- KEYS[12] idempotency_key: idempotency hash for this request
-- KEYS[13] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- KEYS[14] pending_by_deadline_key: invoices pending acceptance by acceptance deadline (zset, score ms)
-- KEYS[15] buyer_stream_key: buyer's event stream
-- ARGV[1] invoice_id: invoice id
-- ARGV[2] invoice_number: invoice number
-- ARGV[3] seller_id: seller id
-- ARGV[4] seller_name: seller display name
-- ARGV[5] buyer_id: buyer id
-- ARGV[6] amount: amount (face value), paise
-- ARGV[7] ask_amount: ask amount, paise (<= amount)
-- ARGV[8] due_date: due date, ISO 8601 UTC
-- ARGV[9] due_at: due date, epoch ms
-- ARGV[10] description: description
-- ARGV[11] now_iso: now, ISO 8601 UTC
-- ARGV[12] now_ms: now, epoch ms
-- ARGV[13] today: today, YYYY-MM-DD (daily series)
-- ARGV[14] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[15] idempotency_ttl: idempotency TTL, seconds
-- ARGV[16] market_stream_maxlen: market stream length max
-- ARGV[17] due_at_max: latest due date allowed, epoch ms
-- ARGV[18] acceptance_required: '1' when the buyer must accept first, '0' otherwise
-- ARGV[19] accept_by_ms: acceptance deadline, epoch ms (the window, or the due date if sooner)
-- ARGV[20] accept_by: acceptance deadline, ISO 8601 UTC
-- ARGV[21] user_stream_maxlen: user stream length max
-- ARGV[22] min_ticket: a fractional invoice's minimum claim, paise ('' for a whole invoice)
-- ARGV[23] funding_deadline: a fractional invoice's funding deadline, ISO 8601 UTC ('' for a whole invoice)
-- ARGV[24] funding_deadline_ms: the same, epoch ms ('' for a whole invoice)
-- Returns: ok {invoice} | unauthorized | idempotency_key_reused | due_date_not_in_future | invalid_field |
--   invalid_buyer | duplicate_invoice
-- Derived keys: the fractional-by-deadline index (a fractional invoice listed at once).
-- Events: newInvoiceListed (market); or, acceptance required, acceptanceRequested (buyer)

local invoice_key = KEYS[1]
local invoice_numbers_key = KEYS[2]
local listed_by_created_key = KEYS[3]
local listed_by_amount_key = KEYS[4]
local listed_by_due_key = KEYS[5]
local seller_invoices_key = KEYS[6]
local buyer_invoices_key = KEYS[7]
local seller_stats_key = KEYS[8]
local buyer_stats_key = KEYS[9]
local buyer_user_key = KEYS[10]
local market_stream_key = KEYS[11]
local idempotency_key = KEYS[12]
local session_key = KEYS[13]
local pending_by_deadline_key = KEYS[14]
local buyer_stream_key = KEYS[15]
local invoice_id = ARGV[1]
local invoice_number = ARGV[2]
local seller_id = ARGV[3]
local seller_name = ARGV[4]
local buyer_id = ARGV[5]
local amount = ARGV[6]
local ask_amount = ARGV[7]
local due_date = ARGV[8]
local due_at = ARGV[9]
local description = ARGV[10]
local now_iso = ARGV[11]
local now_ms = ARGV[12]
local today = ARGV[13]
local body_hash = ARGV[14]
local idempotency_ttl = ARGV[15]
local market_stream_maxlen = ARGV[16]
local due_at_max = ARGV[17]
local acceptance_required = ARGV[18]
local accept_by_ms = ARGV[19]
local accept_by = ARGV[20]
local user_stream_maxlen = ARGV[21]
local min_ticket = ARGV[22]
local funding_deadline = ARGV[23]
local funding_deadline_ms = ARGV[24]

local refused = caller_refused(session_key, seller_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

-- checked here, after the replay, so that a retry with the same key still gets the first answer
if tonumber(due_at) <= tonumber(now_ms) then
  return refuse('due_date_not_in_future', 'dueDate must be in the future')
end
if tonumber(due_at) > tonumber(due_at_max) then
  return refuse('invalid_field', 'dueDate is too far in the future')
end
if funding_deadline_ms ~= '' and tonumber(funding_deadline_ms) <= tonumber(now_ms) then
  return refuse('invalid_field', 'fundingDeadline must be in the future')
end
local buyer = redis.call('HMGET', buyer_user_key, 'role', 'displayName')
if buyer[1] ~= 'buyer' then
  return refuse('invalid_buyer', 'buyerId does not name a registered buyer')
end
if redis.call('HEXISTS', invoice_numbers_key, invoice_number) == 1 then
  return refuse('duplicate_invoice', 'this seller has already listed this invoice number')
end

local face = tonumber(amount)
local pending = acceptance_required == '1'
local invoice = {
  id = invoice_id, invoiceNumber = invoice_number, sellerId = seller_id, seller = seller_name,
  buyerId = buyer_id, buyer = buyer[2], amount = amount, askAmount = ask_amount, currency = 'INR',
  dueDate = due_date, dueAt = due_at, status = 'listed', description = description, createdAt = now_iso,
  createdAtMs = now_ms}
if min_ticket ~= '' then
  invoice.minTicket, invoice.fundingDeadline, invoice.fundingDeadlineMs = min_ticket, funding_deadline,
    funding_deadline_ms
  invoice.fundedClaim, invoice.paidIn = '0', '0'
end
if pending then
  invoice.status, invoice.acceptBy, invoice.acceptByMs = 'pending_acceptance', accept_by, accept_by_ms
end
local fields = {}
for field, value in pairs(invoice) do
  fields[#fields + 1] = field
  fields[#fields + 1] = value
end
redis.call('HSET', invoice_key, unpack(fields))
redis.call('HSET', invoice_numbers_key, invoice_number, invoice_id)
redis.call('ZADD', seller_invoices_key, now_ms, invoice_id)
redis.call('ZADD', buyer_invoices_key, now_ms, invoice_id)
bump(seller_stats_key, 'listedCount', 1)
bump(seller_stats_key, 'listedAmount', face)
bump(buyer_stats_key, 'invoiceCount', 1)
bump(buyer_stats_key, 'invoiceAmount', face)
bump_daily(seller_id, today, 'listed', face)

if pending then
  redis.call('ZADD', pending_by_deadline_key, accept_by_ms, invoice_id)
  emit(buyer_stream_key, user_stream_maxlen, 'acceptanceRequested', obj({
    'invoiceId', S(invoice_id), 'invoiceNumber', S(invoice_number), 'amount', N(amount), 'seller', S(seller_name),
    'dueDate', S(due_date), 'acceptBy', S(accept_by)}))
else
  list_on_market(invoice, {listed_by_created_key, listed_by_amount_key, listed_by_due_key}, now_ms,
    market_stream_key, market_stream_maxlen, now_iso)
end

local result = obj({'invoice', invoice_json(invoice)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
