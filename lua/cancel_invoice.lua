-- cancel_invoice: the seller withdraws a listed invoice. Its invoice number may be listed again.
--
-- KEYS[1] invoice hash
-- KEYS[2] listed invoices by created time
-- KEYS[3] listed invoices by amount
-- KEYS[4] listed invoices by due time
-- KEYS[5] seller's invoice-number hash
-- KEYS[6] seller's stats hash
-- KEYS[7] market event stream
-- KEYS[8] idempotency hash for this request
-- KEYS[9] the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] seller id (the caller)
-- ARGV[2] now, ISO 8601 UTC
-- ARGV[3] request body hash ('' when no Idempotency-Key)
-- ARGV[4] idempotency TTL, seconds
-- ARGV[5] market stream length max
-- Derived keys: buyer's stats hash.
-- Returns: ok {invoice} | unauthorized | idempotency_key_reused | invoice_not_found | forbidden | invoice_not_listed
-- Events: invoiceUpdated (market)

local refused = caller_refused(KEYS[9], ARGV[1])
if refused then return refused end
local replay = idempotent_replay(KEYS[8], ARGV[3])
if replay then return replay end

local invoice = hgetall(KEYS[1])
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.sellerId ~= ARGV[1] then
  -- a listed invoice is public, so say why; any other is invisible to non-parties
  if invoice.status == 'listed' or invoice.buyerId == ARGV[1] or invoice.investorId == ARGV[1] then
    return refuse('forbidden', 'only the seller may cancel an invoice')
  end
  return refuse('invoice_not_found', 'no such invoice')
end
if invoice.status ~= 'listed' then
  return refuse('invoice_not_listed', 'the invoice is ' .. invoice.status .. ', not listed')
end

invoice.status = 'cancelled'
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelledAt', ARGV[2])
redis.call('ZREM', KEYS[2], invoice.id)
redis.call('ZREM', KEYS[3], invoice.id)
redis.call('ZREM', KEYS[4], invoice.id)
redis.call('HDEL', KEYS[5], invoice.invoiceNumber)
local amount = tonumber(invoice.amount)
bump(KEYS[6], 'cancelledCount', 1)
bump(KEYS[6], 'cancelledAmount', amount)
bump(KEY.stats(invoice.buyerId), 'cancelledCount', 1)
bump(KEY.stats(invoice.buyerId), 'cancelledAmount', amount)
emit(KEYS[7], ARGV[5], 'invoiceUpdated', obj({
  'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S('cancelled')}))

local result = obj({'invoice', invoice_json(invoice)})
idempotent_store(KEYS[8], ARGV[3], result, ARGV[4])
return ok(result)
