-- fund_invoice: an investor buys a listed invoice for `amount` (ask <= amount <= face value).
-- Investor -> seller (the price minus the platform fee) and -> platform:fees (the fee); invoice funded;
-- investment created; the investor expects the face value back.
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] investor_wallet_key: investor's wallet hash
-- KEYS[3] investor_entries_key: investor's ledger entries stream
-- KEYS[4] investor_stream_key: investor's event stream
-- KEYS[5] investor_stats_key: investor's stats hash
-- KEYS[6] investor_investments_key: investor's investments (zset, score created ms)
-- KEYS[7] investor_invoices_key: investor's invoices (zset, score created ms)
-- KEYS[8] listed_by_created_key: listed invoices by created time
-- KEYS[9] listed_by_amount_key: listed invoices by amount
-- KEYS[10] listed_by_due_key: listed invoices by due time
-- KEYS[11] funded_by_due_key: funded invoices by due time (for the overdue task)
-- KEYS[12] investment_key: the new investment's hash
-- KEYS[13] market_stream_key: market event stream
-- KEYS[14] idempotency_key: idempotency hash for this request
-- KEYS[15] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] investor_id: investor id
-- ARGV[2] investor_name: investor display name
-- ARGV[3] investment_id: investment id
-- ARGV[4] amount: amount, paise
-- ARGV[5] now_iso: now, ISO 8601 UTC
-- ARGV[6] now_ms: now, epoch ms
-- ARGV[7] today: today, YYYY-MM-DD (daily series)
-- ARGV[8] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[9] idempotency_ttl: idempotency TTL, seconds
-- ARGV[10] user_stream_maxlen: user stream length max
-- ARGV[11] market_stream_maxlen: market stream length max
-- ARGV[12] fee_bps: the platform fee, basis points of the price (0..10000)
-- Derived keys (from the invoice's sellerId): seller's wallet, ledger entries, event stream, stats,
-- daily series; investor's daily series; the fees account's wallet and entries, the system accounts set;
-- the invoice's pending bids, bidders, escrow, each bid's hash and bidder's wallet, the bids-by-expiry set;
-- the investor's limits and exposure, each refunded bidder's exposure.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found |
--   own_invoice | invoice_not_listed | invoice_past_due | amount_out_of_range | insufficient_funds |
--   balance_limit_exceeded | exposure_limit_exceeded
-- Events: invoiceFunded (seller), investmentSuccess (investor), walletUpdated (seller, investor),
--   invoiceUpdated (market); bidRejected and walletUpdated to each bidder whose pending bid is refunded

local invoice_key = KEYS[1]
local investor_wallet_key = KEYS[2]
local investor_entries_key = KEYS[3]
local investor_stream_key = KEYS[4]
local investor_stats_key = KEYS[5]
local investor_investments_key = KEYS[6]
local investor_invoices_key = KEYS[7]
local listed_by_created_key = KEYS[8]
local listed_by_amount_key = KEYS[9]
local listed_by_due_key = KEYS[10]
local funded_by_due_key = KEYS[11]
local investment_key = KEYS[12]
local market_stream_key = KEYS[13]
local idempotency_key = KEYS[14]
local session_key = KEYS[15]
local investor_id = ARGV[1]
local investor_name = ARGV[2]
local investment_id = ARGV[3]
local amount = tonumber(ARGV[4])
local now_iso = ARGV[5]
local now_ms = ARGV[6]
local today = ARGV[7]
local body_hash = ARGV[8]
local idempotency_ttl = ARGV[9]
local user_stream_maxlen = ARGV[10]
local market_stream_maxlen = ARGV[11]
local fee_bps = tonumber(ARGV[12])

local refused = caller_refused(session_key, investor_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
refused = purchase_refused(invoice, investor_id, amount, now_ms)
if refused then return refused end
local face = tonumber(invoice.amount)
local investor = account(investor_id, investor_wallet_key, investor_entries_key, investor_stream_key)
local seller = account(invoice.sellerId)
local fees = system_account(ACCOUNT.fees)
local fee = fee_of(amount, fee_bps)
local net = amount - fee
-- bought outright: every pending bid goes back to its bidder, the buyer's own included (it counts
-- towards the price)
local own_bid_id = redis.call('HGET', KEY.invoice_bidders(invoice.id), investor_id)
local own_bid = 0
if own_bid_id then own_bid = tonumber(redis.call('HGET', KEY.bid(own_bid_id), 'amount')) end
refused = payout_refused(investor, {{seller, net}, {fees, fee}}, balance_of(investor) + own_bid)
if refused then return refused end
-- the claim is new unless the investor's own pending bid already counted it
local claim = face
if own_bid_id then claim = 0 end
refused = exposure_refused(investor_id, invoice.buyerId, claim)
if refused then return refused end
add_exposure(investor_id, invoice.buyerId, face)
refund_bids(invoice, nil, 'rejected', 'bidRejected', now_iso, user_stream_maxlen)

local what = 'Invoice ' .. invoice.invoiceNumber
local investor_balance, seller_balance = balance_of(investor), balance_of(seller)
if net > 0 then  -- a fee of 10000 bps leaves the seller nothing: no empty entry
  investor_balance, seller_balance = transfer(investor, seller, net, 'funding', 'Funded ' .. what,
    what .. ' funded', invoice.id, now_iso, user_stream_maxlen)
end
if fee > 0 then
  investor_balance = transfer(investor, fees, fee, 'fee', 'Platform fee, ' .. what, 'Fee, ' .. what,
    invoice.id, now_iso, user_stream_maxlen)
end

local investment = record_funding(invoice, {
  invoice = invoice_key, listed = {listed_by_created_key, listed_by_amount_key, listed_by_due_key},
  funded_by_due = funded_by_due_key, investment = investment_key, investor_investments = investor_investments_key,
  investor_invoices = investor_invoices_key, investor_stats = investor_stats_key, seller_stream = seller.stream,
  investor_stream = investor.stream, market_stream = market_stream_key,
}, {
  investor_id = investor_id, investor_name = investor_name, investment_id = investment_id, price = amount,
  fee = fee, seller_balance = seller_balance, investor_balance = investor_balance, now_iso = now_iso,
  now_ms = now_ms, today = today, user_stream_maxlen = user_stream_maxlen,
  market_stream_maxlen = market_stream_maxlen,
})

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'wallet', wallet_json(investor_balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
