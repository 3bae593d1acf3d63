-- place_bid: an investor bids for a listed whole invoice: the price offered for its face value
-- (ask <= amount <= face). The money moves wallet -> the invoice's escrow at once, so acceptance can
-- never fail for lack of funds. One pending bid per investor: a second replaces the first (escrow
-- adjusted by the difference, either way).
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] new_bid_key: the new bid's hash (a replaced bid keeps its id and hash, derived from bidders)
-- KEYS[3] bids_key: the invoice's pending bids (zset, score amount)
-- KEYS[4] bidders_key: the invoice's bidders (hash investor id -> pending bid id)
-- KEYS[5] bids_by_expiry_key: pending bids with a validUntil, by it
-- KEYS[6] investor_wallet_key: investor's wallet hash
-- KEYS[7] investor_entries_key: investor's ledger entries stream
-- KEYS[8] investor_stream_key: investor's event stream
-- KEYS[9] idempotency_key: idempotency hash for this request
-- KEYS[10] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] investor_id: investor id (the caller)
-- ARGV[2] investor_name: investor display name
-- ARGV[3] new_bid_id: the new bid's id (unused when a pending bid is replaced)
-- ARGV[4] amount: the price offered, paise
-- ARGV[5] valid_until: ISO 8601 UTC, '' for none
-- ARGV[6] valid_until_ms: epoch ms, '' for none
-- ARGV[7] discount_rate_bps: the bid's annualised discount to the due date, basis points (computed exactly)
-- ARGV[8] now_iso: now, ISO 8601 UTC
-- ARGV[9] now_ms: now, epoch ms
-- ARGV[10] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[11] idempotency_ttl: idempotency TTL, seconds
-- ARGV[12] user_stream_maxlen: user stream length max
-- ARGV[13] bids_max: pending bids allowed per invoice
-- Derived keys: the escrow account's wallet and entries, the system accounts set, the seller's event
-- stream (from the invoice); the replaced bid's hash (from bidders); the investor's limits and exposure.
-- Returns: ok {bid, wallet} | unauthorized | idempotency_key_reused | invoice_not_found | own_invoice |
--   invoice_not_listed | invoice_past_due | amount_out_of_range | invalid_field | bid_limit_reached |
--   exposure_limit_exceeded | insufficient_funds | balance_limit_exceeded
-- Events: bidPlaced (seller: amount only, no bidder), walletUpdated (investor)

local invoice_key = KEYS[1]
local new_bid_key = KEYS[2]
local bids_key = KEYS[3]
local bidders_key = KEYS[4]
local bids_by_expiry_key = KEYS[5]
local investor_wallet_key = KEYS[6]
local investor_entries_key = KEYS[7]
local investor_stream_key = KEYS[8]
local idempotency_key = KEYS[9]
local session_key = KEYS[10]
local investor_id = ARGV[1]
local investor_name = ARGV[2]
local new_bid_id = ARGV[3]
local amount = tonumber(ARGV[4])
local valid_until = ARGV[5]
local valid_until_ms = ARGV[6]
local discount_rate_bps = ARGV[7]
local now_iso = ARGV[8]
local now_ms = ARGV[9]
local body_hash = ARGV[10]
local idempotency_ttl = ARGV[11]
local user_stream_maxlen = ARGV[12]
local bids_max = tonumber(ARGV[13])

local refused = caller_refused(session_key, investor_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
refused = purchase_refused(invoice, investor_id, amount, now_ms)
if refused then return refused end
if valid_until_ms ~= '' and (tonumber(valid_until_ms) <= tonumber(now_ms)
    or tonumber(valid_until_ms) > tonumber(invoice.dueAt)) then
  return refuse('invalid_field', 'validUntil must be in the future and not after the due date')
end
local pending = redis.call('HGET', bidders_key, investor_id)
local bid_id, bid_key, before = new_bid_id, new_bid_key, 0
if pending then
  bid_id, bid_key = pending, KEY.bid(pending)
  before = tonumber(redis.call('HGET', bid_key, 'amount'))
elseif redis.call('ZCARD', bids_key) >= bids_max then
  return refuse('bid_limit_reached', 'this invoice has as many pending bids as it may hold')
end
local investor = account(investor_id, investor_wallet_key, investor_entries_key, investor_stream_key)
local escrow = escrow_of(invoice.id)
if not pending then  -- a new bid counts as the claim it would become; a replacement changes nothing
  refused = exposure_refused(investor_id, invoice.buyerId, tonumber(invoice.amount))
  if refused then return refused end
end
local what = 'Invoice ' .. invoice.invoiceNumber
local balance = balance_of(investor)
if amount > before then
  refused = transfer_refused(investor, escrow, amount - before)
  if refused then return refused end
  balance = transfer(investor, escrow, amount - before, 'bid', 'Bid held, ' .. what, 'Bid held, ' .. what,
    invoice.id, now_iso, user_stream_maxlen)
elseif amount < before then
  local _, returned = transfer(escrow, investor, before - amount, 'bid_refund', 'Bid lowered, ' .. what,
    'Bid lowered, ' .. what, invoice.id, now_iso, user_stream_maxlen)
  balance = returned
end

local bid = {id = bid_id, invoiceId = invoice.id, investorId = investor_id, investor = investor_name,
  amount = int(amount), discountRateBps = discount_rate_bps, validUntil = valid_until, status = 'pending',
  createdAt = now_iso, updatedAt = now_iso}
if pending then bid.createdAt = redis.call('HGET', bid_key, 'createdAt') end
if valid_until == '' then bid.validUntil = nil end
redis.call('HSET', bid_key, 'id', bid.id, 'invoiceId', bid.invoiceId, 'investorId', investor_id,
  'investor', investor_name, 'amount', bid.amount, 'discountRateBps', discount_rate_bps,
  'validUntil', valid_until, 'validUntilMs', valid_until_ms, 'status', 'pending', 'createdAt', bid.createdAt,
  'updatedAt', now_iso)
redis.call('ZADD', bids_key, amount, bid.id)
if not pending then add_exposure(investor_id, invoice.buyerId, tonumber(invoice.amount)) end
redis.call('HSET', bidders_key, investor_id, bid.id)
if valid_until_ms ~= '' then
  redis.call('ZADD', bids_by_expiry_key, valid_until_ms, bid.id)
else
  redis.call('ZREM', bids_by_expiry_key, bid.id)
end
emit(KEY.user_stream(invoice.sellerId), user_stream_maxlen, 'bidPlaced', obj({
  'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(amount),
  'bidCount', int(redis.call('ZCARD', bids_key))}))

local result = obj({'bid', bid_json(bid), 'wallet', wallet_json(balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
