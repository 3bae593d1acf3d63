-- age_invoices: the periodic task's step. Funded invoices past their due date become overdue;
-- overdue invoices past due + grace become defaulted (their investment too); listed invoices past
-- their due date can no longer be financed and are cancelled. At most ARGV[4] of each per call.
--
-- KEYS[1] funded invoices by due time
-- KEYS[2] overdue invoices by due time
-- KEYS[3] listed invoices by created time
-- KEYS[4] listed invoices by amount
-- KEYS[5] listed invoices by due time
-- KEYS[6] market event stream
-- ARGV[1] now, epoch ms
-- ARGV[2] now, ISO 8601 UTC
-- ARGV[3] grace before default, ms
-- ARGV[4] batch size max (per transition)
-- ARGV[5] market stream length max
-- Derived keys: each aged invoice's hash, its investment's hash, the investor's, seller's and
-- buyer's stats hashes, the seller's invoice-number hash.
-- Returns: ok {overdue, defaulted, expired} (counts)
-- Events: invoiceUpdated (market) per invoice

local now_ms, now_iso, grace_ms, batch = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

local function updated(invoice_key, status)
  local invoice = redis.call('HMGET', invoice_key, 'id', 'invoiceNumber')
  emit(KEYS[6], ARGV[5], 'invoiceUpdated', obj({'id', S(invoice[1]), 'invoiceNumber', S(invoice[2]),
    'status', S(status)}))
end

local overdue = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - 1, 'LIMIT', 0, batch)
for _, invoice_id in ipairs(overdue) do
  local key = KEY.invoice(invoice_id)
  redis.call('HSET', key, 'status', 'overdue', 'overdueAt', now_iso)
  redis.call('ZADD', KEYS[2], redis.call('ZSCORE', KEYS[1], invoice_id), invoice_id)
  redis.call('ZREM', KEYS[1], invoice_id)
  updated(key, 'overdue')
end

local defaulted = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms - grace_ms - 1, 'LIMIT', 0, batch)
for _, invoice_id in ipairs(defaulted) do
  local key = KEY.invoice(invoice_id)
  local invoice = hgetall(key)
  redis.call('HSET', key, 'status', 'defaulted', 'defaultedAt', now_iso)
  redis.call('HSET', KEY.investment(invoice.investmentId), 'status', 'defaulted', 'defaultedAt', now_iso)
  redis.call('ZREM', KEYS[2], invoice_id)
  local investor_stats = KEY.stats(invoice.investorId)
  bump(investor_stats, 'defaultedCount', 1)
  bump(investor_stats, 'defaultedAmount', tonumber(invoice.fundedAmount))
  bump(investor_stats, 'defaultedReturn', tonumber(invoice.amount))
  bump(KEY.stats(invoice.buyerId), 'defaultedCount', 1)
  bump(KEY.stats(invoice.buyerId), 'defaultedAmount', tonumber(invoice.amount))
  updated(key, 'defaulted')
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now_ms, 'LIMIT', 0, batch)
for _, invoice_id in ipairs(expired) do
  local key = KEY.invoice(invoice_id)
  local invoice = hgetall(key)
  redis.call('HSET', key, 'status', 'cancelled', 'cancelledAt', now_iso, 'cancelReason', 'expired')
  redis.call('ZREM', KEYS[3], invoice_id)
  redis.call('ZREM', KEYS[4], invoice_id)
  redis.call('ZREM', KEYS[5], invoice_id)
  redis.call('HDEL', KEY.invoice_numbers(invoice.sellerId), invoice.invoiceNumber)
  local amount = tonumber(invoice.amount)
  bump(KEY.stats(invoice.sellerId), 'cancelledCount', 1)
  bump(KEY.stats(invoice.sellerId), 'cancelledAmount', amount)
  bump(KEY.stats(invoice.buyerId), 'cancelledCount', 1)
  bump(KEY.stats(invoice.buyerId), 'cancelledAmount', amount)
  updated(key, 'cancelled')
end

return ok(obj({'overdue', int(#overdue), 'defaulted', int(#defaulted), 'expired', int(#expired)}))
