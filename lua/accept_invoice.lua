-- accept_invoice: the buyer confirms an invoice that awaits its acceptance (BUYER_ACCEPTANCE=required);
-- it is listed on the market at once. Acceptance is irrevocable.
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] listed_by_created_key: listed invoices by listing time
-- KEYS[3] listed_by_amount_key: listed invoices by amount
-- KEYS[4] listed_by_due_key: listed invoices by due time
-- KEYS[5] pending_by_deadline_key: invoices pending acceptance by acceptance deadline
-- KEYS[6] market_stream_key: market event stream
-- KEYS[7] idempotency_key: idempotency hash for this request
-- KEYS[8] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] buyer_id: buyer id (the caller)
-- ARGV[2] now_iso: now, ISO 8601 UTC
-- ARGV[3] now_ms: now, epoch ms
-- ARGV[4] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[5] idempotency_ttl: idempotency TTL, seconds
-- ARGV[6] user_stream_maxlen: user stream length max
-- ARGV[7] market_stream_maxlen: market stream length max
-- Derived keys (from the invoice): the seller's and the buyer's event streams.
-- Returns: ok {invoice} | unauthorized | idempotency_key_reused | invoice_not_found |
--   invoice_not_pending_acceptance | acceptance_window_closed | funding_deadline_passed
-- Events: invoiceAccepted (seller, buyer), newInvoiceListed (market)

local invoice_key = KEYS[1]
local listed_by_created_key = KEYS[2]
local listed_by_amount_key = KEYS[3]
local listed_by_due_key = KEYS[4]
local pending_by_deadline_key = KEYS[5]
local market_stream_key = KEYS[6]
local idempotency_key = KEYS[7]
local session_key = KEYS[8]
local buyer_id = ARGV[1]
local now_iso = ARGV[2]
local now_ms = ARGV[3]
local body_hash = ARGV[4]
local idempotency_ttl = ARGV[5]
local user_stream_maxlen = ARGV[6]
local market_stream_maxlen = ARGV[7]

local refused = caller_refused(session_key, buyer_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
refused = answer_refused(invoice, buyer_id, now_ms)
if refused then return refused end
if fractional(invoice) and tonumber(invoice.fundingDeadlineMs) <= tonumber(now_ms) then
  return refuse('funding_deadline_passed', 'the invoice\'s funding deadline ' .. invoice.fundingDeadline ..
    ' has passed: it can no longer be sold')
end

invoice.status, invoice.acceptedAt = 'listed', now_iso
redis.call('HSET', invoice_key, 'status', 'listed', 'acceptedAt', now_iso)
redis.call('ZREM', pending_by_deadline_key, invoice.id)
list_on_market(invoice, {listed_by_created_key, listed_by_amount_key, listed_by_due_key}, now_ms,
  market_stream_key, market_stream_maxlen, now_iso)
local accepted = obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber),
  'buyer', S(invoice.buyer), 'acceptedAt', S(now_iso)})
emit(KEY.user_stream(invoice.sellerId), user_stream_maxlen, 'invoiceAccepted', accepted)
emit(KEY.user_stream(buyer_id), user_stream_maxlen, 'invoiceAccepted', accepted)

local result = obj({'invoice', invoice_json(invoice)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
