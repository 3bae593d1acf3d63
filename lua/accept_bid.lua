-- accept_bid: the seller takes one pending bid: the invoice is funded at that bid's amount, paid out of
-- its escrow (to the seller minus the platform fee, the fee to platform:fees), and every other pending
-- bid is refunded, all in this one step.
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] bid_key: the accepted bid's hash
-- KEYS[3] listed_by_created_key: listed invoices by listing time
-- KEYS[4] listed_by_amount_key: listed invoices by amount
-- KEYS[5] listed_by_due_key: listed invoices by due time
-- KEYS[6] funded_by_due_key: funded invoices by due time
-- KEYS[7] investment_key: the new investment's hash
-- KEYS[8] seller_wallet_key: seller's wallet hash
-- KEYS[9] seller_entries_key: seller's ledger entries stream
-- KEYS[10] seller_stream_key: seller's event stream
-- KEYS[11] market_stream_key: market event stream
-- KEYS[12] idempotency_key: idempotency hash for this request
-- KEYS[13] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] seller_id: seller id (the caller)
-- ARGV[2] investment_id: the new investment's id
-- ARGV[3] now_iso: now, ISO 8601 UTC
-- ARGV[4] now_ms: now, epoch ms
-- ARGV[5] today: today, YYYY-MM-DD (daily series)
-- ARGV[6] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[7] idempotency_ttl: idempotency TTL, seconds
-- ARGV[8] user_stream_maxlen: user stream length max
-- ARGV[9] market_stream_maxlen: market stream length max
-- ARGV[10] fee_bps: the platform fee, basis points of the price (0..10000)
-- Derived keys: the winner's stats, investments, invoices, daily series and event stream; the invoice's
-- escrow, pending bids and bidders, each other bid's hash and bidder's wallet, the bids-by-expiry set;
-- the fees account; the seller's stats and daily series.
-- Returns: ok {invoice, investment, bid} | unauthorized | idempotency_key_reused | invoice_not_found |
--   forbidden | invoice_not_listed | invoice_past_due | bid_not_found | bid_not_pending | bid_expired |
--   balance_limit_exceeded
-- Events: invoiceFunded (seller), investmentSuccess and bidAccepted (winner), bidRejected and
--   walletUpdated (every other bidder), walletUpdated (seller), invoiceUpdated (market)

local invoice_key = KEYS[1]
local bid_key = KEYS[2]
local listed_by_created_key = KEYS[3]
local listed_by_amount_key = KEYS[4]
local listed_by_due_key = KEYS[5]
local funded_by_due_key = KEYS[6]
local investment_key = KEYS[7]
local seller_wallet_key = KEYS[8]
local seller_entries_key = KEYS[9]
local seller_stream_key = KEYS[10]
local market_stream_key = KEYS[11]
local idempotency_key = KEYS[12]
local session_key = KEYS[13]
local seller_id = ARGV[1]
local investment_id = ARGV[2]
local now_iso = ARGV[3]
local now_ms = ARGV[4]
local today = ARGV[5]
local body_hash = ARGV[6]
local idempotency_ttl = ARGV[7]
local user_stream_maxlen = ARGV[8]
local market_stream_maxlen = ARGV[9]
local fee_bps = tonumber(ARGV[10])

local refused = caller_refused(session_key, seller_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.sellerId ~= seller_id then
  if invoice.status == 'listed' or invoice.buyerId == seller_id then
    return refuse('forbidden', 'only the seller may accept a bid')
  end
  return refuse('invoice_not_found', 'no such invoice')
end
if invoice.status ~= 'listed' then
  return refuse('invoice_not_listed', 'the invoice is ' .. invoice.status .. ', not listed')
end
if tonumber(invoice.dueAt) <= tonumber(now_ms) then
  return refuse('invoice_past_due', 'the invoice is past its due date')
end
local bid = hgetall(bid_key)
if not bid.id or bid.invoiceId ~= invoice.id then return refuse('bid_not_found', 'no such bid on this invoice') end
if bid.status ~= 'pending' then return refuse('bid_not_pending', 'the bid is ' .. bid.status .. ', not pending') end
if bid.validUntilMs ~= '' and tonumber(bid.validUntilMs) <= tonumber(now_ms) then
  return refuse('bid_expired', 'the bid was valid until ' .. bid.validUntil)
end
local price = tonumber(bid.amount)
local escrow = escrow_of(invoice.id)
local seller = account(seller_id, seller_wallet_key, seller_entries_key, seller_stream_key)
local fees = system_account(ACCOUNT.fees)
local fee = fee_of(price, fee_bps)
refused = payout_refused(escrow, {{seller, price - fee}, {fees, fee}})
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local seller_balance = balance_of(seller)
if price - fee > 0 then
  local _, credited = transfer(escrow, seller, price - fee, 'funding', 'Bid accepted, ' .. what,
    what .. ' funded', invoice.id, now_iso, user_stream_maxlen)
  seller_balance = credited
end
if fee > 0 then
  transfer(escrow, fees, fee, 'fee', 'Platform fee, ' .. what, 'Fee, ' .. what, invoice.id, now_iso,
    user_stream_maxlen)
end
close_bid(invoice, bid, 'accepted', now_iso)
refund_bids(invoice, nil, 'rejected', 'bidRejected', now_iso, user_stream_maxlen)

local winner = account(bid.investorId)
local investment = record_funding(invoice, {
  invoice = invoice_key, listed = {listed_by_created_key, listed_by_amount_key, listed_by_due_key},
  funded_by_due = funded_by_due_key, investment = investment_key,
  investor_investments = KEY.user_investments(bid.investorId), investor_invoices = KEY.user_invoices(bid.investorId),
  investor_stats = KEY.stats(bid.investorId), seller_stream = seller.stream, investor_stream = winner.stream,
  market_stream = market_stream_key,
}, {
  investor_id = bid.investorId, investor_name = bid.investor, investment_id = investment_id, price = price,
  fee = fee, seller_balance = seller_balance, investor_balance = balance_of(winner), now_iso = now_iso,
  now_ms = now_ms, today = today, user_stream_maxlen = user_stream_maxlen,
  market_stream_maxlen = market_stream_maxlen,
})
emit(winner.stream, user_stream_maxlen, 'bidAccepted', obj({'bidId', S(bid.id), 'invoiceId', S(invoice.id),
  'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(price), 'investmentId', S(investment_id)}))

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'bid', bid_json(bid)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
