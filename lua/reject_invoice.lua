-- reject_invoice: the buyer refuses an invoice that awaits its acceptance (not theirs, wrong amount,
-- ...), with a reason for the seller. The invoice is never listed; its number may be used again.
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] pending_by_deadline_key: invoices pending acceptance by acceptance deadline
-- KEYS[3] idempotency_key: idempotency hash for this request
-- KEYS[4] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] buyer_id: buyer id (the caller)
-- ARGV[2] reason: why, for the seller (1..500 characters)
-- ARGV[3] now_iso: now, ISO 8601 UTC
-- ARGV[4] now_ms: now, epoch ms
-- ARGV[5] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[6] idempotency_ttl: idempotency TTL, seconds
-- ARGV[7] user_stream_maxlen: user stream length max
-- Derived keys (from the invoice): the seller's invoice-number hash, the seller's and the buyer's
-- stats hashes and event streams.
-- Returns: ok {invoice} | unauthorized | idempotency_key_reused | invoice_not_found |
--   invoice_not_pending_acceptance | acceptance_window_closed
-- Events: invoiceRejected (seller, buyer)

local invoice_key = KEYS[1]
local pending_by_deadline_key = KEYS[2]
local idempotency_key = KEYS[3]
local session_key = KEYS[4]
local buyer_id = ARGV[1]
local reason = ARGV[2]
local now_iso = ARGV[3]
local now_ms = ARGV[4]
local body_hash = ARGV[5]
local idempotency_ttl = ARGV[6]
local user_stream_maxlen = ARGV[7]

local refused = caller_refused(session_key, buyer_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
refused = answer_refused(invoice, buyer_id, now_ms)
if refused then return refused end

invoice.status, invoice.rejectionReason = 'rejected', reason
redis.call('HSET', invoice_key, 'status', 'rejected', 'rejectedAt', now_iso, 'rejectionReason', reason)
redis.call('ZREM', pending_by_deadline_key, invoice.id)
close_unlisted(invoice)
local rejected = obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber),
  'buyer', S(invoice.buyer), 'reason', S(reason)})
emit(KEY.user_stream(invoice.sellerId), user_stream_maxlen, 'invoiceRejected', rejected)
emit(KEY.user_stream(buyer_id), user_stream_maxlen, 'invoiceRejected', rejected)

local result = obj({'invoice', invoice_json(invoice)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
