-- repay_invoice: the invoice's buyer pays the face value, which goes to the investor.
-- Allowed while funded or overdue (not once defaulted).
--
-- KEYS[1] invoice hash
-- KEYS[2] buyer's wallet hash
-- KEYS[3] buyer's ledger entries stream
-- KEYS[4] buyer's event stream
-- KEYS[5] buyer's stats hash
-- KEYS[6] funded invoices by due time
-- KEYS[7] overdue invoices by due time
-- KEYS[8] market event stream
-- KEYS[9] idempotency hash for this request
-- KEYS[10] the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] buyer id (the caller)
-- ARGV[2] now, ISO 8601 UTC
-- ARGV[3] today, YYYY-MM-DD (daily series)
-- ARGV[4] request body hash ('' when no Idempotency-Key)
-- ARGV[5] idempotency TTL, seconds
-- ARGV[6] user stream length max
-- ARGV[7] market stream length max
-- Derived keys (from the invoice): investor's wallet, ledger entries, event stream, stats, daily
-- series; the investment's hash; seller's wallet, event stream and stats.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found | forbidden |
--   invoice_not_repayable | insufficient_funds | balance_limit_exceeded
-- Events: walletUpdated (buyer, investor), invoiceRepaid (investor, seller, buyer), invoiceUpdated (market)

local refused = caller_refused(KEYS[10], ARGV[1])
if refused then return refused end
local replay = idempotent_replay(KEYS[9], ARGV[4])
if replay then return replay end

local invoice = hgetall(KEYS[1])
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.buyerId ~= ARGV[1] then
  -- a listed invoice is public, so say why; any other is invisible to non-parties
  if invoice.status == 'listed' or invoice.sellerId == ARGV[1] or invoice.investorId == ARGV[1] then
    return refuse('forbidden', 'only the invoice\'s buyer may repay it')
  end
  return refuse('invoice_not_found', 'no such invoice')
end
if invoice.status ~= 'funded' and invoice.status ~= 'overdue' then
  return refuse('invoice_not_repayable', 'the invoice is ' .. invoice.status .. '; only funded or overdue invoices are repaid')
end
local face = tonumber(invoice.amount)
local buyer = account(ARGV[1], KEYS[2], KEYS[3], KEYS[4])
local investor = account(invoice.investorId)
refused = transfer_refused(buyer, investor, face)
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local buyer_balance, investor_balance = transfer(buyer, investor, face, 'repayment', 'Repaid ' .. what,
  what .. ' repaid', invoice.id, ARGV[2], ARGV[6])

invoice.status, invoice.repaidAt = 'repaid', ARGV[2]
redis.call('HSET', KEYS[1], 'status', 'repaid', 'repaidAt', ARGV[2])
redis.call('ZREM', KEYS[6], invoice.id)
redis.call('ZREM', KEYS[7], invoice.id)
local investment_key = KEY.investment(invoice.investmentId)
redis.call('HSET', investment_key, 'status', 'settled', 'settledAt', ARGV[2])
local investment = hgetall(investment_key)

local funded, profit = tonumber(invoice.fundedAmount), tonumber(invoice.profit)
local investor_stats = KEY.stats(invoice.investorId)
bump(investor_stats, 'settledCount', 1)
bump(investor_stats, 'realizedReturn', face)
bump(investor_stats, 'realizedProfit', profit)
bump(investor_stats, 'settledAmount', funded)
bump(KEY.stats(invoice.sellerId), 'repaidCount', 1)
bump(KEYS[5], 'repaidCount', 1)
bump(KEYS[5], 'repaidAmount', face)
bump_daily(ARGV[1], ARGV[3], 'repaid', face)
bump_daily(invoice.investorId, ARGV[3], 'returned', face)

local seller = account(invoice.sellerId)
local function repaid(balance)
  return obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(face),
    'newBalance', int(balance)})
end
emit(investor.stream, ARGV[6], 'invoiceRepaid', repaid(investor_balance))
emit(seller.stream, ARGV[6], 'invoiceRepaid', repaid(balance_of(seller)))
emit(buyer.stream, ARGV[6], 'invoiceRepaid', repaid(buyer_balance))
emit(KEYS[8], ARGV[7], 'invoiceUpdated', obj({
  'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S('repaid')}))

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'wallet', wallet_json(buyer_balance)})
idempotent_store(KEYS[9], ARGV[4], result, ARGV[5])
return ok(result)
