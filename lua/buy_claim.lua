-- buy_claim: an investor buys a claim on a listed fractional invoice (DESIGN 9.4): `claim` paise of its
-- face value, minTicket <= claim <= what remains (the last claim may be smaller: it takes exactly the
-- remainder). Its price is its cumulative-rounded share of askAmount, so the claims of an invoice sell
-- for exactly askAmount in all. Investor -> the invoice's escrow; the investment is reserved. The
-- claim that fills the invoice also pays the escrow out: to the seller the price minus the platform
-- fee, the fee to platform:fees; the invoice is funded and every claim on it active.
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
-- KEYS[13] holdings_key: the invoice's investments in participation order (list)
-- KEYS[14] market_stream_key: market event stream
-- KEYS[15] idempotency_key: idempotency hash for this request
-- KEYS[16] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] investor_id: investor id
-- ARGV[2] investment_id: investment id
-- ARGV[3] claim: the claim, paise of face value
-- ARGV[4] now_iso: now, ISO 8601 UTC
-- ARGV[5] now_ms: now, epoch ms
-- ARGV[6] today: today, YYYY-MM-DD (daily series)
-- ARGV[7] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[8] idempotency_ttl: idempotency TTL, seconds
-- ARGV[9] user_stream_maxlen: user stream length max
-- ARGV[10] market_stream_maxlen: market stream length max
-- ARGV[11] fee_bps: the platform fee, basis points of the price (0..10000)
-- ARGV[12] holders_max: claims an invoice may be sold in, at most (the last takes the remainder)
-- Derived keys: the invoice's escrow wallet and entries, the system accounts set; the investor's daily
-- series, limits and exposure; when the claim fills the invoice: the seller's wallet, entries, stream,
-- stats and daily series, the fees account's wallet and entries, each claim's investment and its
-- investor's stream and stats (reserved -> active), the fractional-by-deadline index.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found |
--   own_invoice | invoice_not_listed | invoice_past_due | invoice_not_fractional | funding_deadline_passed |
--   claim_out_of_range | insufficient_funds | balance_limit_exceeded | exposure_limit_exceeded
-- Events: investmentSuccess and walletUpdated (investor), invoiceUpdated (market, with fundedClaim and
--   remainingClaim); when full: investmentActivated to each claim's investor, invoiceFunded and
--   walletUpdated (seller)

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
local holdings_key = KEYS[13]
local market_stream_key = KEYS[14]
local idempotency_key = KEYS[15]
local session_key = KEYS[16]
local investor_id = ARGV[1]
local investment_id = ARGV[2]
local claim = tonumber(ARGV[3])
local now_iso = ARGV[4]
local now_ms = ARGV[5]
local today = ARGV[6]
local body_hash = ARGV[7]
local idempotency_ttl = ARGV[8]
local user_stream_maxlen = ARGV[9]
local market_stream_maxlen = ARGV[10]
local fee_bps = tonumber(ARGV[11])
local holders_max = tonumber(ARGV[12])

local refused = caller_refused(session_key, investor_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
refused = on_sale_refused(invoice, investor_id, now_ms)
if refused then return refused end
if not fractional(invoice) then
  return refuse('invoice_not_fractional', 'this invoice is sold whole: POST /fund {"amount": price}')
end
if tonumber(invoice.fundingDeadlineMs) <= tonumber(now_ms) then
  return refuse('funding_deadline_passed', 'the invoice\'s funding deadline ' .. invoice.fundingDeadline .. ' has passed')
end
local face, ask, min_ticket = tonumber(invoice.amount), tonumber(invoice.askAmount), tonumber(invoice.minTicket)
local sold = tonumber(invoice.fundedClaim or '0')
local remaining = face - sold
local held = redis.call('LLEN', holdings_key)
if claim > remaining then
  return refuse('claim_out_of_range', 'claim must be at most the remaining ' .. int(remaining) .. ' paise')
end
if claim < min_ticket and claim ~= remaining then
  return refuse('claim_out_of_range', 'claim must be at least the minimum ticket of ' .. int(min_ticket) ..
    ' paise, or exactly the remaining ' .. int(remaining))
end
if held + 1 >= holders_max and claim ~= remaining then
  return refuse('claim_out_of_range', 'this invoice is sold in at most ' .. int(holders_max) ..
    ' claims: the last must take exactly the remaining ' .. int(remaining) .. ' paise')
end
-- cumulative rounding: the claims sold so far cost floor(sold * ask / face) in all
local price = muldiv(sold + claim, ask, face) - muldiv(sold, ask, face)
local full = claim == remaining
local investor = account(investor_id, investor_wallet_key, investor_entries_key, investor_stream_key)
local escrow = escrow_of(invoice.id)
local seller, fees = account(invoice.sellerId), system_account(ACCOUNT.fees)
local paid_in = tonumber(invoice.paidIn or '0') + price
local fee = 0
if full then fee = fee_of(paid_in, fee_bps) end
refused = transfer_refused(investor, escrow, price)
if refused then return refused end
if full then
  refused = payout_refused(escrow, {{seller, paid_in - fee}, {fees, fee}}, paid_in)
  if refused then return refused end
end
refused = exposure_refused(investor_id, invoice.buyerId, claim)
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local investor_balance = balance_of(investor)
if price > 0 then
  investor_balance = transfer(investor, escrow, price, 'claim_purchase', 'Claim bought, ' .. what,
    'Claim held, ' .. what, invoice.id, now_iso, user_stream_maxlen)
end
add_exposure(investor_id, invoice.buyerId, claim)
local investment = {id = investment_id, invoiceId = invoice.id, investorId = investor_id, claim = int(claim),
  amount = int(price), expectedReturn = int(claim), profit = int(claim - price), received = '0',
  status = 'reserved', createdAt = now_iso}
redis.call('HSET', investment_key, 'id', investment.id, 'invoiceId', invoice.id, 'investorId', investor_id,
  'claim', investment.claim, 'amount', investment.amount, 'expectedReturn', investment.expectedReturn,
  'profit', investment.profit, 'received', '0', 'status', 'reserved', 'createdAt', now_iso)
redis.call('RPUSH', holdings_key, investment_id)
redis.call('ZADD', investor_investments_key, now_ms, investment_id)
redis.call('ZADD', investor_invoices_key, 'NX', now_ms, invoice.id)
invoice.fundedClaim, invoice.paidIn = int(sold + claim), int(paid_in)
redis.call('HSET', invoice_key, 'fundedClaim', invoice.fundedClaim, 'paidIn', invoice.paidIn)
bump(investor_stats_key, 'investmentCount', 1)
bump(investor_stats_key, 'investedAmount', price)
bump(investor_stats_key, 'expectedReturn', claim)
bump(investor_stats_key, 'reservedCount', 1)  -- reserved until the invoice fills (then active) or is refunded
bump(investor_stats_key, 'reservedAmount', price)
bump_daily(investor_id, today, 'invested', price)
emit(investor.stream, user_stream_maxlen, 'investmentSuccess', obj({
  'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'investmentId', S(investment_id),
  'claim', int(claim), 'amount', int(price), 'expectedReturn', int(claim), 'profit', int(claim - price),
  'status', S(full and 'active' or 'reserved'), 'newBalance', int(investor_balance)}))

if not full then
  invoice_updated(invoice, market_stream_key, market_stream_maxlen)
else
  local seller_balance = balance_of(seller)
  if paid_in - fee > 0 then
    local _
    _, seller_balance = transfer(escrow, seller, paid_in - fee, 'funding', 'Paid out, ' .. what, what .. ' funded',
      invoice.id, now_iso, user_stream_maxlen)
  end
  if fee > 0 then
    transfer(escrow, fees, fee, 'fee', 'Platform fee, ' .. what, 'Fee, ' .. what, invoice.id, now_iso,
      user_stream_maxlen)
  end
  local investors, counted = 0, {}
  for _, holding in ipairs(holdings_of(invoice)) do
    if not counted[holding.investorId] then investors, counted[holding.investorId] = investors + 1, true end
    redis.call('HSET', KEY.investment(holding.id), 'status', 'active', 'activatedAt', now_iso)
    bump(KEY.stats(holding.investorId), 'reservedCount', -1)
    bump(KEY.stats(holding.investorId), 'reservedAmount', -tonumber(holding.amount))
    emit(KEY.user_stream(holding.investorId), user_stream_maxlen, 'investmentActivated', obj({
      'investmentId', S(holding.id), 'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber),
      'claim', N(holding.claim), 'amount', N(holding.amount)}))
  end
  investment.status = 'active'
  mark_funded(invoice, {listed_by_created_key, listed_by_amount_key, listed_by_due_key}, funded_by_due_key,
    paid_in, fee, int(investors) .. ' investors', seller_balance, now_iso, today,
    {seller = seller.stream, market = market_stream_key, user_maxlen = user_stream_maxlen,
     market_maxlen = market_stream_maxlen})
end

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'wallet', wallet_json(investor_balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
