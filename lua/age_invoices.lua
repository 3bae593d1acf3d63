-- age_invoices: the periodic task's step. Funded invoices past their due date become overdue;
-- overdue invoices past due + grace become defaulted (their investment too); listed invoices past
-- their due date can no longer be financed and are cancelled; fractional invoices not sold in full by
-- their funding deadline expire, every claim refunded; invoices their buyer did not accept by
-- the deadline (BUYER_ACCEPTANCE=required) expire; bids past their validUntil, and every pending bid
-- of a listed invoice that expires, go back to their bidders. At most batch_max of each per call (of
-- defaults and deadline expiries, which touch every holding: batch_max / 20).
--
-- KEYS[1] funded_by_due_key: funded invoices by due time
-- KEYS[2] overdue_by_due_key: overdue invoices by due time
-- KEYS[3] listed_by_created_key: listed invoices by created time
-- KEYS[4] listed_by_amount_key: listed invoices by amount
-- KEYS[5] listed_by_due_key: listed invoices by due time
-- KEYS[6] market_stream_key: market event stream
-- KEYS[7] pending_by_deadline_key: invoices pending acceptance by acceptance deadline
-- KEYS[8] bids_by_expiry_key: pending bids with a validUntil, by it
-- KEYS[9] fractional_by_deadline_key: listed fractional invoices by funding deadline
-- ARGV[1] now_ms: now, epoch ms
-- ARGV[2] now_iso: now, ISO 8601 UTC
-- ARGV[3] grace_ms: grace before default, ms
-- ARGV[4] batch_max: batch size max (per transition)
-- ARGV[5] market_stream_maxlen: market stream length max
-- ARGV[6] user_stream_maxlen: user stream length max
-- Derived keys: each aged invoice's hash, its holdings list and each holding's investment hash, the investor's, seller's and
-- buyer's stats hashes, the seller's invoice-number hash, the seller's and buyer's event streams; for
-- bids: each bid's hash, its invoice's escrow, pending bids and bidders, the bidder's wallet and stream;
-- for claims refunded: each holder's wallet, entries, stream, stats, daily series and exposure.
-- Returns: ok {more, overdue, defaulted, expired, unfilled, unaccepted, bidsExpired} (counts; more: a step
--   had a full batch, call again)
-- Events: invoiceUpdated (market) per listed or funded invoice; invoiceExpired (seller, buyer) per
--   invoice not accepted in time; bidExpired (bidder) per bid past validUntil, bidRejected per bid of an
--   invoice that expired; investmentRefunded (holder) per claim of a fractional invoice that expired

local funded_by_due_key = KEYS[1]
local overdue_by_due_key = KEYS[2]
local listed_by_created_key = KEYS[3]
local listed_by_amount_key = KEYS[4]
local listed_by_due_key = KEYS[5]
local market_stream_key = KEYS[6]
local pending_by_deadline_key = KEYS[7]
local bids_by_expiry_key = KEYS[8]
local fractional_by_deadline_key = KEYS[9]
local now_ms = tonumber(ARGV[1])
local now_iso = ARGV[2]
local grace_ms = tonumber(ARGV[3])
local batch_max = tonumber(ARGV[4])
local market_stream_maxlen = ARGV[5]
local user_stream_maxlen = ARGV[6]

local overdue = redis.call('ZRANGEBYSCORE', funded_by_due_key, '-inf', now_ms - 1, 'LIMIT', 0, batch_max)
for _, invoice_id in ipairs(overdue) do
  local key = KEY.invoice(invoice_id)
  local invoice = hgetall(key)
  invoice.status = 'overdue'
  redis.call('HSET', key, 'status', 'overdue', 'overdueAt', now_iso)
  redis.call('ZADD', overdue_by_due_key, invoice.dueAt, invoice_id)
  redis.call('ZREM', funded_by_due_key, invoice_id)
  invoice_updated(invoice, market_stream_key, market_stream_maxlen)
end

-- defaults and expiries touch every holding of a fractional invoice (up to HOLDERS_PER_INVOICE_MAX):
-- fewer of them per call, so that one call stays short; `more` tells the caller to call again
local heavy_max = math.max(1, math.floor(batch_max / 20))
local defaulted = redis.call('ZRANGEBYSCORE', overdue_by_due_key, '-inf', now_ms - grace_ms - 1,
  'LIMIT', 0, heavy_max)
for _, invoice_id in ipairs(defaulted) do
  local key = KEY.invoice(invoice_id)
  local invoice = hgetall(key)
  invoice.status = 'defaulted'
  redis.call('HSET', key, 'status', 'defaulted', 'defaultedAt', now_iso)
  redis.call('ZREM', overdue_by_due_key, invoice_id)
  -- what was paid before the default is realized already; the default is what remains
  for _, holding in ipairs(holdings_of(invoice)) do
    redis.call('HSET', KEY.investment(holding.id), 'status', 'defaulted', 'defaultedAt', now_iso)
    local unpaid = tonumber(holding.claim) - tonumber(holding.received)
    local investor_stats = KEY.stats(holding.investorId)
    bump(investor_stats, 'defaultedCount', 1)
    bump(investor_stats, 'defaultedAmount', tonumber(holding.amount))
    bump(investor_stats, 'defaultedReturn', unpaid)
  end
  local unpaid = tonumber(invoice.amount) - tonumber(invoice.received or '0')
  bump(KEY.stats(invoice.buyerId), 'defaultedCount', 1)
  bump(KEY.stats(invoice.buyerId), 'defaultedAmount', unpaid)
  invoice_updated(invoice, market_stream_key, market_stream_maxlen)
end

local listed_keys = {listed_by_created_key, listed_by_amount_key, listed_by_due_key}
-- fractional invoices not sold in full by their funding deadline: every claim is refunded
local unfilled = redis.call('ZRANGEBYSCORE', fractional_by_deadline_key, '-inf', now_ms, 'LIMIT', 0, heavy_max)
for _, invoice_id in ipairs(unfilled) do
  local invoice = hgetall(KEY.invoice(invoice_id))
  if invoice.status == 'listed' then
    delist(invoice, 'expired', {'expiredAt', now_iso, 'cancelReason', 'funding deadline passed'}, listed_keys,
      market_stream_key, now_iso, user_stream_maxlen, market_stream_maxlen)
  else
    redis.call('ZREM', fractional_by_deadline_key, invoice_id)
  end
end

local expired = redis.call('ZRANGEBYSCORE', listed_by_due_key, '-inf', now_ms, 'LIMIT', 0, batch_max)
for _, invoice_id in ipairs(expired) do
  delist(hgetall(KEY.invoice(invoice_id)), 'cancelled', {'cancelledAt', now_iso, 'cancelReason', 'expired'},
    listed_keys, market_stream_key, now_iso, user_stream_maxlen, market_stream_maxlen)
end

local unaccepted = redis.call('ZRANGEBYSCORE', pending_by_deadline_key, '-inf', now_ms, 'LIMIT', 0, batch_max)
for _, invoice_id in ipairs(unaccepted) do
  local key = KEY.invoice(invoice_id)
  local invoice = hgetall(key)
  redis.call('HSET', key, 'status', 'expired', 'expiredAt', now_iso)
  redis.call('ZREM', pending_by_deadline_key, invoice_id)
  close_unlisted(invoice)
  local data = obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber),
    'reason', S('not accepted by ' .. invoice.acceptBy)})
  emit(KEY.user_stream(invoice.sellerId), user_stream_maxlen, 'invoiceExpired', data)
  emit(KEY.user_stream(invoice.buyerId), user_stream_maxlen, 'invoiceExpired', data)
end

local stale = redis.call('ZRANGEBYSCORE', bids_by_expiry_key, '-inf', now_ms, 'LIMIT', 0, batch_max)
for _, bid_id in ipairs(stale) do
  local bid = hgetall(KEY.bid(bid_id))
  refund_bid(hgetall(KEY.invoice(bid.invoiceId)), bid, 'expired', 'bidExpired', now_iso, user_stream_maxlen)
end

local more = #overdue == batch_max or #defaulted == heavy_max or #expired == batch_max or
  #unfilled == heavy_max or #unaccepted == batch_max or #stale == batch_max
return ok(obj({'more', tostring(more), 'overdue', int(#overdue), 'defaulted', int(#defaulted),
  'expired', int(#expired), 'unfilled', int(#unfilled),
  'unaccepted', int(#unaccepted), 'bidsExpired', int(#stale)}))
