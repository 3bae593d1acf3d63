-- withdraw_bid: an investor takes back their pending bid on an invoice: escrow -> wallet.
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] bidders_key: the invoice's bidders (hash investor id -> pending bid id)
-- KEYS[3] investor_wallet_key: investor's wallet hash
-- KEYS[4] investor_entries_key: investor's ledger entries stream
-- KEYS[5] investor_stream_key: investor's event stream
-- KEYS[6] idempotency_key: idempotency hash for this request
-- KEYS[7] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] investor_id: investor id (the caller)
-- ARGV[2] now_iso: now, ISO 8601 UTC
-- ARGV[3] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[4] idempotency_ttl: idempotency TTL, seconds
-- ARGV[5] user_stream_maxlen: user stream length max
-- Derived keys: the bid's hash, the invoice's pending bids, the bids-by-expiry set, the escrow account,
-- the seller's event stream.
-- Returns: ok {bid, wallet} | unauthorized | idempotency_key_reused | invoice_not_found | bid_not_found
-- Events: bidWithdrawn (seller: amount only), walletUpdated (investor)

local invoice_key = KEYS[1]
local bidders_key = KEYS[2]
local investor_wallet_key = KEYS[3]
local investor_entries_key = KEYS[4]
local investor_stream_key = KEYS[5]
local idempotency_key = KEYS[6]
local session_key = KEYS[7]
local investor_id = ARGV[1]
local now_iso = ARGV[2]
local body_hash = ARGV[3]
local idempotency_ttl = ARGV[4]
local user_stream_maxlen = ARGV[5]

local refused = caller_refused(session_key, investor_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
local bid_id = redis.call('HGET', bidders_key, investor_id)
if not bid_id then return refuse('bid_not_found', 'you have no pending bid on this invoice') end

local bid = hgetall(KEY.bid(bid_id))
local amount = tonumber(bid.amount)
local investor = account(investor_id, investor_wallet_key, investor_entries_key, investor_stream_key)
local what = 'Invoice ' .. invoice.invoiceNumber
local _, balance = transfer(escrow_of(invoice.id), investor, amount, 'bid_refund', 'Bid withdrawn, ' .. what,
  'Bid withdrawn, ' .. what, invoice.id, now_iso, user_stream_maxlen)
close_bid(invoice, bid, 'withdrawn', now_iso)
emit(KEY.user_stream(invoice.sellerId), user_stream_maxlen, 'bidWithdrawn', obj({
  'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(amount),
  'bidCount', int(redis.call('ZCARD', KEY.invoice_bids(invoice.id)))}))

local result = obj({'bid', bid_json(bid), 'wallet', wallet_json(balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
