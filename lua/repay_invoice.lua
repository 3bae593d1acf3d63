-- repay_invoice: the invoice's buyer pays the face value, which goes to the investor.
-- Allowed while funded or overdue (not once defaulted).
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] buyer_wallet_key: buyer's wallet hash
-- KEYS[3] buyer_entries_key: buyer's ledger entries stream
-- KEYS[4] buyer_stream_key: buyer's event stream
-- KEYS[5] buyer_stats_key: buyer's stats hash
-- KEYS[6] funded_by_due_key: funded invoices by due time
-- KEYS[7] overdue_by_due_key: overdue invoices by due time
-- KEYS[8] market_stream_key: market event stream
-- KEYS[9] idempotency_key: idempotency hash for this request
-- KEYS[10] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] buyer_id: buyer id (the caller)
-- ARGV[2] now_iso: now, ISO 8601 UTC
-- ARGV[3] today: today, YYYY-MM-DD (daily series)
-- ARGV[4] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[5] idempotency_ttl: idempotency TTL, seconds
-- ARGV[6] user_stream_maxlen: user stream length max
-- ARGV[7] market_stream_maxlen: market stream length max
-- Derived keys (from the invoice): investor's wallet, ledger entries, event stream, stats, daily
-- series; the investment's hash; seller's wallet, event stream and stats; the investor's exposure.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found | forbidden |
--   invoice_not_repayable | insufficient_funds | balance_limit_exceeded
-- Events: walletUpdated (buyer, investor), invoiceRepaid (investor, seller, buyer), invoiceUpdated (market)

local invoice_key = KEYS[1]
local buyer_wallet_key = KEYS[2]
local buyer_entries_key = KEYS[3]
local buyer_stream_key = KEYS[4]
local buyer_stats_key = KEYS[5]
local funded_by_due_key = KEYS[6]
local overdue_by_due_key = KEYS[7]
local market_stream_key = KEYS[8]
local idempotency_key = KEYS[9]
local session_key = KEYS[10]
local buyer_id = ARGV[1]
local now_iso = ARGV[2]
local today = ARGV[3]
local body_hash = ARGV[4]
local idempotency_ttl = ARGV[5]
local user_stream_maxlen = ARGV[6]
local market_stream_maxlen = ARGV[7]

local refused = caller_refused(session_key, buyer_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.buyerId ~= buyer_id then
  -- a listed invoice is public, so say why; any other is invisible to non-parties
  if invoice.status == 'listed' or invoice.sellerId == buyer_id or invoice.investorId == buyer_id then
    return refuse('forbidden', 'only the invoice\'s buyer may repay it')
  end
  return refuse('invoice_not_found', 'no such invoice')
end
if invoice.status ~= 'funded' and invoice.status ~= 'overdue' then
  return refuse('invoice_not_repayable', 'the invoice is ' .. invoice.status .. '; only funded or overdue invoices are repaid')
end
local face = tonumber(invoice.amount)
local buyer = account(buyer_id, buyer_wallet_key, buyer_entries_key, buyer_stream_key)
local investor = account(invoice.investorId)
refused = transfer_refused(buyer, investor, face)
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local buyer_balance, investor_balance = transfer(buyer, investor, face, 'repayment', 'Repaid ' .. what,
  what .. ' repaid', invoice.id, now_iso, user_stream_maxlen)

invoice.status, invoice.repaidAt = 'repaid', now_iso
redis.call('HSET', invoice_key, 'status', 'repaid', 'repaidAt', now_iso)
redis.call('ZREM', funded_by_due_key, invoice.id)
redis.call('ZREM', overdue_by_due_key, invoice.id)
local investment_key = KEY.investment(invoice.investmentId)
redis.call('HSET', investment_key, 'status', 'settled', 'settledAt', now_iso)
add_exposure(invoice.investorId, buyer_id, -face)
local investment = hgetall(investment_key)

local funded, profit = tonumber(invoice.fundedAmount), tonumber(invoice.profit)
local investor_stats = KEY.stats(invoice.investorId)
bump(investor_stats, 'settledCount', 1)
bump(investor_stats, 'realizedReturn', face)
bump(investor_stats, 'realizedProfit', profit)
bump(investor_stats, 'settledAmount', funded)
bump(KEY.stats(invoice.sellerId), 'repaidCount', 1)
bump(buyer_stats_key, 'repaidCount', 1)
bump(buyer_stats_key, 'repaidAmount', face)
bump_daily(buyer_id, today, 'repaid', face)
bump_daily(invoice.investorId, today, 'returned', face)

local seller = account(invoice.sellerId)
local function repaid(balance)
  return obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(face),
    'newBalance', int(balance)})
end
emit(investor.stream, user_stream_maxlen, 'invoiceRepaid', repaid(investor_balance))
emit(seller.stream, user_stream_maxlen, 'invoiceRepaid', repaid(balance_of(seller)))
emit(buyer.stream, user_stream_maxlen, 'invoiceRepaid', repaid(buyer_balance))
emit(market_stream_key, market_stream_maxlen, 'invoiceUpdated', obj({
  'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S('repaid')}))

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'wallet', wallet_json(buyer_balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
