-- fund_invoice: an investor buys a listed invoice for `amount` (ask <= amount <= face value).
-- Investor -> seller; invoice funded; investment created; the investor expects the face value back.
--
-- KEYS[1] invoice hash
-- KEYS[2] investor's wallet hash
-- KEYS[3] investor's ledger entries stream
-- KEYS[4] investor's event stream
-- KEYS[5] investor's stats hash
-- KEYS[6] investor's investments (zset, score created ms)
-- KEYS[7] investor's invoices (zset, score created ms)
-- KEYS[8] listed invoices by created time
-- KEYS[9] listed invoices by amount
-- KEYS[10] listed invoices by due time
-- KEYS[11] funded invoices by due time (for the overdue task)
-- KEYS[12] the new investment's hash
-- KEYS[13] market event stream
-- KEYS[14] idempotency hash for this request
-- KEYS[15] the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] investor id
-- ARGV[2] investor display name
-- ARGV[3] investment id
-- ARGV[4] amount, paise
-- ARGV[5] now, ISO 8601 UTC
-- ARGV[6] now, epoch ms
-- ARGV[7] today, YYYY-MM-DD (daily series)
-- ARGV[8] request body hash ('' when no Idempotency-Key)
-- ARGV[9] idempotency TTL, seconds
-- ARGV[10] user stream length max
-- ARGV[11] market stream length max
-- Derived keys (from the invoice's sellerId): seller's wallet, ledger entries, event stream, stats,
-- daily series; investor's daily series.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found |
--   own_invoice | invoice_not_listed | invoice_past_due | amount_out_of_range | insufficient_funds |
--   balance_limit_exceeded
-- Events: invoiceFunded (seller), investmentSuccess (investor), walletUpdated (seller, investor),
--   invoiceUpdated (market)

local refused = caller_refused(KEYS[15], ARGV[1])
if refused then return refused end
local replay = idempotent_replay(KEYS[14], ARGV[8])
if replay then return replay end

local invoice = hgetall(KEYS[1])
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
local investor_id, amount, now_ms = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[6])
if invoice.sellerId == investor_id then
  return refuse('own_invoice', 'a seller cannot fund their own invoice')
end
if invoice.status ~= 'listed' then
  return refuse('invoice_not_listed', 'the invoice is ' .. invoice.status .. ', not listed')
end
if tonumber(invoice.dueAt) <= now_ms then
  return refuse('invoice_past_due', 'the invoice is past its due date')
end
local face = tonumber(invoice.amount)
if amount < tonumber(invoice.askAmount) or amount > face then
  return refuse('amount_out_of_range', 'amount must be between askAmount and amount, inclusive')
end
local investor = account(investor_id, KEYS[2], KEYS[3], KEYS[4])
local seller = account(invoice.sellerId)
refused = transfer_refused(investor, seller, amount)
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local investor_balance, seller_balance = transfer(investor, seller, amount, 'funding', 'Funded ' .. what,
  what .. ' funded', invoice.id, ARGV[5], ARGV[10])

local profit = face - amount
invoice.status, invoice.investorId, invoice.investmentId = 'funded', investor_id, ARGV[3]
invoice.fundedAmount, invoice.expectedReturn, invoice.profit = int(amount), int(face), int(profit)
invoice.fundedAt = ARGV[5]
redis.call('HSET', KEYS[1], 'status', 'funded', 'investorId', investor_id, 'investor', ARGV[2],
  'investmentId', ARGV[3], 'fundedAmount', invoice.fundedAmount, 'expectedReturn', invoice.expectedReturn,
  'profit', invoice.profit, 'fundedAt', ARGV[5])
redis.call('ZREM', KEYS[8], invoice.id)
redis.call('ZREM', KEYS[9], invoice.id)
redis.call('ZREM', KEYS[10], invoice.id)
redis.call('ZADD', KEYS[11], invoice.dueAt, invoice.id)

local investment = {id = ARGV[3], invoiceId = invoice.id, investorId = investor_id, amount = int(amount),
  expectedReturn = int(face), profit = int(profit), status = 'active', createdAt = ARGV[5]}
redis.call('HSET', KEYS[12], 'id', investment.id, 'invoiceId', investment.invoiceId,
  'investorId', investor_id, 'amount', investment.amount, 'expectedReturn', investment.expectedReturn,
  'profit', investment.profit, 'status', 'active', 'createdAt', ARGV[5])
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[3])
redis.call('ZADD', KEYS[7], ARGV[6], invoice.id)

bump(KEYS[5], 'investmentCount', 1)
bump(KEYS[5], 'investedAmount', amount)
bump(KEYS[5], 'expectedReturn', face)
local seller_stats = KEY.stats(invoice.sellerId)
bump(seller_stats, 'fundedCount', 1)
bump(seller_stats, 'raisedAmount', amount)
bump_daily(investor_id, ARGV[7], 'invested', amount)
bump_daily(invoice.sellerId, ARGV[7], 'raised', amount)

emit(seller.stream, ARGV[10], 'invoiceFunded', obj({
  'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(amount),
  'investor', S(ARGV[2]), 'newBalance', int(seller_balance)}))
emit(investor.stream, ARGV[10], 'investmentSuccess', obj({
  'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(amount),
  'expectedReturn', int(face), 'profit', int(profit), 'newBalance', int(investor_balance)}))
emit(KEYS[13], ARGV[11], 'invoiceUpdated', obj({
  'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S('funded')}))

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'wallet', wallet_json(investor_balance)})
idempotent_store(KEYS[14], ARGV[8], result, ARGV[9])
return ok(result)
