-- prelude: shared helpers, rendered in front of every script by finance/scripts.py (after the
-- generated KEY.<name>(id) functions of finance/keys.py). Not a script of its own.
--
-- Why a JSON writer of our own: cjson writes numbers with 14 significant digits, so 10^15 paise
-- would come out as 1e+15. Integers here go through string.format('%d'), exact up to 2^53.
-- Replies: every script returns {code, json}; code 'ok' or a named refusal (finance/outcomes.py).

local NULL = 'null'

local function S(v)
  if v == nil or v == false then return NULL end
  return cjson.encode(v)
end

local function N(v)
  if v == nil or v == false or v == '' then return NULL end
  return string.format('%d', tonumber(v))
end

-- obj({'k1', json1, 'k2', json2, ...}) -> '{"k1":json1,"k2":json2}'. Keys are our own identifiers
-- (no escaping needed); values are already JSON.
local function obj(pairs_list)
  local parts, n = {}, 0
  for i = 1, #pairs_list, 2 do
    n = n + 1
    parts[n] = '"' .. pairs_list[i] .. '":' .. pairs_list[i + 1]
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function arr(items)
  return '[' .. table.concat(items, ',') .. ']'
end

local function int(v)
  return string.format('%d', v)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function refuse(code, message)
  return {code, obj({'message', S(message)})}
end

-- The caller's session still vouches for them: `session_key` is their token's hash (so a token
-- revoked since the app cached it moves nothing), or their user hash for operator commands.
local function caller_refused(session_key, user_id)
  if redis.call('HGET', session_key, 'id') ~= user_id then
    return refuse('unauthorized', 'the token is unknown, expired or revoked')
  end
  return nil
end

local function ok(json)
  return {'ok', json}
end

-- Records, shaped as the API returns them (DESIGN section 5). The only definition of these shapes.
-- Written out as one concatenation each: they are on every money script's path.
-- What the buyer still owes on a funded invoice (null before funding).
local function outstanding_json(t)
  if not t.fundedAt or t.fundedAt == '' then return NULL end
  return string.format('%d', tonumber(t.amount) - tonumber(t.received or '0'))
end

-- A fractional invoice (created with minTicket) sells claims on its face value; null for a whole one.
local function fractional(t)
  return t.minTicket ~= nil and t.minTicket ~= ''
end

local function remaining_claim_json(t)
  if not fractional(t) then return NULL end
  return string.format('%d', tonumber(t.amount) - tonumber(t.fundedClaim or '0'))
end

local function invoice_json(t)
  return '{"id":' .. S(t.id) .. ',"invoiceNumber":' .. S(t.invoiceNumber) ..
    ',"sellerId":' .. S(t.sellerId) .. ',"seller":' .. S(t.seller) ..
    ',"buyerId":' .. S(t.buyerId) .. ',"buyer":' .. S(t.buyer) ..
    ',"amount":' .. N(t.amount) .. ',"askAmount":' .. N(t.askAmount) .. ',"currency":' .. S(t.currency) ..
    ',"dueDate":' .. S(t.dueDate) .. ',"status":' .. S(t.status) ..
    ',"description":' .. S(t.description or '') .. ',"createdAt":' .. S(t.createdAt) ..
    ',"investorId":' .. S(t.investorId) .. ',"fundedAmount":' .. N(t.fundedAmount) ..
    ',"expectedReturn":' .. N(t.expectedReturn) .. ',"profit":' .. N(t.profit) ..
    ',"platformFee":' .. N(t.platformFee) .. ',"received":' .. N(t.received) ..
    ',"outstanding":' .. outstanding_json(t) .. ',"minTicket":' .. N(t.minTicket) ..
    ',"fundingDeadline":' .. S(t.fundingDeadline) .. ',"fundedClaim":' .. N(t.fundedClaim) ..
    ',"remainingClaim":' .. remaining_claim_json(t) .. ',"acceptBy":' .. S(t.acceptBy) ..
    ',"acceptedAt":' .. S(t.acceptedAt) .. ',"rejectionReason":' .. S(t.rejectionReason) ..
    ',"fundedAt":' .. S(t.fundedAt) .. ',"repaidAt":' .. S(t.repaidAt) .. '}'
end

local function investment_json(t)
  return '{"id":' .. S(t.id) .. ',"invoiceId":' .. S(t.invoiceId) .. ',"investorId":' .. S(t.investorId) ..
    ',"claim":' .. N(t.claim or t.expectedReturn) .. ',"amount":' .. N(t.amount) ..
    ',"expectedReturn":' .. N(t.expectedReturn) .. ',"profit":' .. N(t.profit) ..
    ',"received":' .. N(t.received or '0') .. ',"status":' .. S(t.status) .. ',"createdAt":' .. S(t.createdAt) .. '}'
end

local function bid_json(t)
  return '{"id":' .. S(t.id) .. ',"invoiceId":' .. S(t.invoiceId) .. ',"investorId":' .. S(t.investorId) ..
    ',"investor":' .. S(t.investor) .. ',"amount":' .. N(t.amount) ..
    ',"discountRateBps":' .. N(t.discountRateBps) .. ',"validUntil":' .. S(t.validUntil) ..
    ',"status":' .. S(t.status) .. ',"createdAt":' .. S(t.createdAt) .. ',"updatedAt":' .. S(t.updatedAt) .. '}'
end

local function wallet_json(balance)
  return '{"balance":' .. N(balance) .. ',"currency":"INR"}'
end

local function transaction_json(entry_id, t)
  local invoice_id = t.invoiceId
  if invoice_id == '' then invoice_id = nil end
  return '{"id":' .. S(entry_id) .. ',"type":' .. S(t.type) .. ',"amount":' .. N(t.amount) ..
    ',"balanceAfter":' .. N(t.balanceAfter) .. ',"description":' .. S(t.description) ..
    ',"invoiceId":' .. S(invoice_id) .. ',"createdAt":' .. S(t.createdAt) .. '}'
end

-- Streams: entries carry `event` and `data` (JSON), readable with XRANGE in redis-cli.
local function emit(stream_key, maxlen, event, data_json)
  return redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*', 'event', event, 'data', data_json)
end

-- Idempotency: a hash {bodyHash, result} kept for the TTL. body_hash '' means no Idempotency-Key.
-- Returns nil (go on), or a reply to return as it is (the stored result, or the reuse refusal).
local function idempotent_replay(key, body_hash)
  if body_hash == '' then return nil end
  local stored = redis.call('HMGET', key, 'bodyHash', 'result')
  if not stored[1] then return nil end
  if stored[1] ~= body_hash then
    return refuse('idempotency_key_reused', 'this Idempotency-Key was used with a different body')
  end
  -- A replay writes (the record's own TTL, set again): WAIT waits for the connection's last write,
  -- so with REPLICA_ACKS a replay on another connection than the first answer's must write to wait
  -- for that first answer to reach the replicas. (Redis 7.0.15 moves a connection's WAIT offset on
  -- any command, so there it is not needed; servers that move it only on writes need it.)
  local ttl_ms = redis.call('PTTL', key)
  if ttl_ms > 0 then redis.call('PEXPIRE', key, ttl_ms) end
  return {'ok', stored[2], 'replayed'}
end

local function idempotent_store(key, body_hash, result_json, ttl_seconds)
  if body_hash == '' then return end
  redis.call('HSET', key, 'bodyHash', body_hash, 'result', result_json)
  redis.call('EXPIRE', key, ttl_seconds)
end

-- An account's keys: given where the caller passed them in KEYS, derived from the id otherwise.
local function account(id, wallet_key, entries_key, stream_key)
  return {id = id, wallet = wallet_key or KEY.wallet(id), entries = entries_key or KEY.wallet_entries(id),
          stream = stream_key or KEY.user_stream(id)}
end

-- A system account: an invoice's escrow (money held for it) or the platform's fees. A ledger account
-- with a balance and entries like a wallet, but no event stream; the first entry lists it in
-- KEY.system_accounts() for the ledger check.
local function system_account(id)
  return {id = id, wallet = KEY.wallet(id), entries = KEY.wallet_entries(id), system = true}
end

local function escrow_of(invoice_id)
  return system_account(ACCOUNT.escrow(invoice_id))
end

-- Moves `amount` into (type 'credit') or out of (type 'debit') one account: balance, ledger entry
-- (the entry's stream id is the transaction id) and, for users, walletUpdated on their stream.
-- The caller has checked the balance. Returns balance_after and the transaction JSON.
local function post_entry(acct, entry_type, amount, kind, description, invoice_id, counterparty,
                          now_iso, user_stream_maxlen)
  local delta = amount
  if entry_type == 'debit' then delta = -amount end
  local balance_after = redis.call('HINCRBY', acct.wallet, 'balance', delta)
  local entry = {type = entry_type, amount = int(amount), balanceAfter = int(balance_after),
                 description = description, invoiceId = invoice_id or '', createdAt = now_iso}
  local entry_id = redis.call('XADD', acct.entries, '*',
    'type', entry.type, 'amount', entry.amount, 'balanceAfter', entry.balanceAfter, 'kind', kind,
    'description', description, 'invoiceId', entry.invoiceId, 'counterparty', counterparty,
    'createdAt', now_iso)
  local transaction = transaction_json(entry_id, entry)
  if acct.system then
    redis.call('SADD', KEY.system_accounts(), acct.id)
  elseif acct.id ~= ACCOUNT.external then
    emit(acct.stream, user_stream_maxlen, 'walletUpdated',
         obj({'balance', int(balance_after), 'transaction', transaction}))
  end
  return balance_after, transaction
end

local function balance_of(acct)
  return tonumber(redis.call('HGET', acct.wallet, 'balance') or '0')
end


local BALANCE_MAX = 1000000000000000

-- The checks of a movement from payer to payee, before anything is written: a refusal, or nil.
-- The external account (the bank's side) has neither a floor nor a ceiling.
local function transfer_refused(payer, payee, amount)
  if payer.id ~= ACCOUNT.external and balance_of(payer) < amount then
    return refuse('insufficient_funds', 'the wallet balance is lower than the amount')
  end
  if payee.id ~= ACCOUNT.external and balance_of(payee) + amount > BALANCE_MAX then
    return refuse('balance_limit_exceeded', 'a balance may not exceed 10^15 paise')
  end
  return nil
end

-- The checks of one payer paying several payees ({account, amount} pairs, amounts >= 0) at once:
-- the payer's balance (or `available`, when money comes back to it first) against the total first,
-- then each payee's ceiling.
local function payout_refused(payer, payees, available)
  local total = 0
  for _, leg in ipairs(payees) do total = total + leg[2] end
  if payer.id ~= ACCOUNT.external and (available or balance_of(payer)) < total then
    return refuse('insufficient_funds', 'the wallet balance is lower than the amount')
  end
  for _, leg in ipairs(payees) do
    if leg[2] > 0 and leg[1].id ~= ACCOUNT.external and balance_of(leg[1]) + leg[2] > BALANCE_MAX then
      return refuse('balance_limit_exceeded', 'a balance may not exceed 10^15 paise')
    end
  end
  return nil
end

-- floor(price * bps / 10000), exact: price <= 10^15 and bps <= 10000, but their product is not exact
-- in a double. With price = high * 10^8 + low, every partial product stays below 2^53.
local function fee_of(price, bps)
  local low = price % 100000000
  local high = (price - low) / 100000000
  local partial = low * bps
  return high * bps * 10000 + (partial - partial % 10000) / 10000
end

-- floor(a * b / c), exact, for integers 0 <= a, b <= 2^50 (10^15 < 2^50) and 0 < c <= 2^50 whose result is
-- at most 2^53 (every use here has a <= c, so the result is at most b). A product such as 10^8 * 10^8
-- is not exact in a double, so this never forms it: with a = qa * c + ra, it walks b's bits from the
-- top keeping a * (the bits so far) as q * c + r with 0 <= r < c. Every r stays below 2c <= 2^51 and
-- every q at most the result, so every value is an exact double.
local function muldiv(a, b, c)
  local qa = math.floor(a / c)
  local ra = a - qa * c
  while ra < 0 do qa, ra = qa - 1, ra + c end  -- the division above is a double's: correct it
  while ra >= c do qa, ra = qa + 1, ra - c end
  local bits, n, x = {}, 0, b
  while x > 0 do
    local bit = x % 2
    n = n + 1
    bits[n] = bit
    x = (x - bit) / 2
  end
  local q, r = 0, 0
  for i = n, 1, -1 do
    q, r = q * 2, r * 2
    if r >= c then q, r = q + 1, r - c end
    if bits[i] == 1 then
      q, r = q + qa, r + ra
      if r >= c then q, r = q + 1, r - c end
    end
  end
  return q
end

-- Splits `total` (0 <= total <= the weights' sum) over the weights, in their order, by cumulative
-- rounding (DESIGN section 9): share_i = floor(C_i * total / W) - floor(C_(i-1) * total / W), with C_i
-- the running sum of the weights and W their sum. The shares sum to exactly `total`, each is within 1
-- of its exact share and at most its weight; a total equal to W gives each exactly its weight.
local function split(weights, total)
  local sum = 0
  for _, w in ipairs(weights) do sum = sum + w end
  local shares, running, before = {}, 0, 0
  for i, w in ipairs(weights) do
    running = running + w
    local upto = 0
    if sum > 0 then upto = muldiv(running, total, sum) end
    shares[i] = upto - before
    before = upto
  end
  return shares
end

-- Both legs of one movement, always together: the payer's debit and the payee's credit, each naming
-- the other as counterparty. Returns the payer's and the payee's balance after, and their
-- transactions' JSON.
local function transfer(payer, payee, amount, kind, payer_text, payee_text, invoice_id, now_iso,
                        user_stream_maxlen)
  local payer_balance, payer_transaction = post_entry(payer, 'debit', amount, kind, payer_text, invoice_id,
    payee.id, now_iso, user_stream_maxlen)
  local payee_balance, payee_transaction = post_entry(payee, 'credit', amount, kind, payee_text, invoice_id,
    payer.id, now_iso, user_stream_maxlen)
  return payer_balance, payee_balance, payer_transaction, payee_transaction
end

-- The checks of an investor buying (`/fund`) or bidding for a listed invoice at `price`, in the order
-- of precedence: a refusal, or nil.
-- Whether the user is a party to the invoice: its seller, its buyer, or an investor who holds (or held)
-- a claim on it; every party has the invoice in their own list.
local function party_to(invoice, user_id)
  if user_id == invoice.sellerId or user_id == invoice.buyerId or user_id == invoice.investorId then return true end
  return redis.call('ZSCORE', KEY.user_invoices(user_id), invoice.id) ~= false
end

-- The checks every purchase of a listed invoice starts with (of it whole, a bid, or a claim).
local function on_sale_refused(invoice, investor_id, now_ms)
  if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
  if invoice.sellerId == investor_id then
    return refuse('own_invoice', 'a seller cannot fund or bid for their own invoice')
  end
  if invoice.status ~= 'listed' then
    return refuse('invoice_not_listed', 'the invoice is ' .. invoice.status .. ', not listed')
  end
  if tonumber(invoice.dueAt) <= tonumber(now_ms) then
    return refuse('invoice_past_due', 'the invoice is past its due date')
  end
  return nil
end

local function purchase_refused(invoice, investor_id, price, now_ms)
  local refused = on_sale_refused(invoice, investor_id, now_ms)
  if refused then return refused end
  if fractional(invoice) then
    return refuse('fractional_invoice', 'this invoice is sold in claims: POST /fund {"claim": paise of face value}')
  end
  if price < tonumber(invoice.askAmount) or price > tonumber(invoice.amount) then
    return refuse('amount_out_of_range', 'amount must be between askAmount and amount, inclusive')
  end
  return nil
end

-- The checks of a buyer's answer (accept or reject) to an invoice awaiting its acceptance: a
-- refusal, or nil. The routes let buyers only, so another buyer is no party: the invoice does not
-- exist for them.
local function answer_refused(invoice, buyer_id, now_ms)
  if not invoice.id or invoice.buyerId ~= buyer_id then return refuse('invoice_not_found', 'no such invoice') end
  if invoice.status ~= 'pending_acceptance' then
    return refuse('invoice_not_pending_acceptance', 'the invoice is ' .. invoice.status .. ', not pending acceptance')
  end
  if tonumber(invoice.acceptByMs) <= tonumber(now_ms) then
    return refuse('acceptance_window_closed', 'the time to answer for this invoice has passed')
  end
  return nil
end

-- invoiceUpdated to the market: the status, and for a fractional invoice how much of it is sold.
local function invoice_updated(invoice, market_stream_key, maxlen)
  local fields = {'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S(invoice.status)}
  if fractional(invoice) then
    fields[7], fields[8] = 'fundedClaim', N(invoice.fundedClaim or '0')
    fields[9], fields[10] = 'remainingClaim', remaining_claim_json(invoice)
  end
  emit(market_stream_key, maxlen, 'invoiceUpdated', obj(fields))
end

-- Puts an invoice on the market (status listed): the three listed indexes, and newInvoiceListed.
local function list_on_market(invoice, listed_keys, listed_ms, market_stream_key, maxlen, now_iso)
  redis.call('ZADD', listed_keys[1], listed_ms, invoice.id)
  redis.call('ZADD', listed_keys[2], invoice.amount, invoice.id)
  redis.call('ZADD', listed_keys[3], invoice.dueAt, invoice.id)
  if fractional(invoice) then
    redis.call('ZADD', KEY.fractional_by_deadline(), invoice.fundingDeadlineMs, invoice.id)
  end
  -- sellerId, buyerId and the claim fields let a marketplace page place a live listing under its own
  -- filters and show a fractional invoice's progress without reading the invoice again
  local fields = {
    'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', N(invoice.amount),
    'askAmount', N(invoice.askAmount), 'seller', S(invoice.seller), 'buyer', S(invoice.buyer),
    'sellerId', S(invoice.sellerId), 'buyerId', S(invoice.buyerId),
    'dueDate', S(invoice.dueDate), 'timestamp', S(now_iso)}
  if fractional(invoice) then
    local n = #fields
    fields[n + 1], fields[n + 2] = 'minTicket', N(invoice.minTicket)
    fields[n + 3], fields[n + 4] = 'fundingDeadline', S(invoice.fundingDeadline)
    fields[n + 5], fields[n + 6] = 'fundedClaim', N(invoice.fundedClaim or '0')
    fields[n + 7], fields[n + 8] = 'remainingClaim', remaining_claim_json(invoice)
  end
  emit(market_stream_key, maxlen, 'newInvoiceListed', obj(fields))
end

-- A figure's change; nothing when it is 0 (a claim priced at 0 paise: HINCRBY refuses the "-0" of its
-- negation, and writing nothing is the same figure)
local function bump(stats_key, field, by)
  if by == 0 then return end
  redis.call('HINCRBY', stats_key, field, by)
end

-- An invoice that never reached the market closes (rejected by its buyer, or not accepted in time):
-- its number is free again, and the seller's and buyer's figures count it as cancelled.
local function close_unlisted(invoice)
  redis.call('HDEL', KEY.invoice_numbers(invoice.sellerId), invoice.invoiceNumber)
  local amount = tonumber(invoice.amount)
  bump(KEY.stats(invoice.sellerId), 'cancelledCount', 1)
  bump(KEY.stats(invoice.sellerId), 'cancelledAmount', amount)
  bump(KEY.stats(invoice.buyerId), 'cancelledCount', 1)
  bump(KEY.stats(invoice.buyerId), 'cancelledAmount', amount)
end

local function bump_daily(user_id, day, metric, by)
  if by == 0 then return end  -- as bump
  redis.call('HINCRBY', KEY.daily(user_id), day .. ':' .. metric, by)
end

-- The seller's side of an invoice becoming funded at `price` (the money moved already: the seller got
-- the price minus `fee`, now holding `seller_balance`): the invoice's funding fields and status, out of
-- the listed indexes (`listed_keys`) into funded-by-due, the seller's figures, invoiceFunded to the
-- seller (`investor` names who funded it) and invoiceUpdated to the market. `streams`: {seller, market} keys
-- and {user_maxlen, market_maxlen}; `fields`: more field/value pairs for the invoice's hash.
local function mark_funded(invoice, listed_keys, funded_by_due_key, price, fee, investor, seller_balance, now_iso,
                           today, streams, fields)
  local face = tonumber(invoice.amount)
  invoice.status, invoice.fundedAt, invoice.received = 'funded', now_iso, '0'
  invoice.fundedAmount, invoice.expectedReturn, invoice.profit = int(price), int(face), int(face - price)
  invoice.platformFee = int(fee)
  redis.call('HSET', KEY.invoice(invoice.id), 'status', 'funded', 'fundedAmount', invoice.fundedAmount,
    'expectedReturn', invoice.expectedReturn, 'profit', invoice.profit, 'fundedAt', now_iso,
    'platformFee', invoice.platformFee, 'received', '0', unpack(fields or {}))
  for _, index in ipairs(listed_keys) do redis.call('ZREM', index, invoice.id) end
  if fractional(invoice) then redis.call('ZREM', KEY.fractional_by_deadline(), invoice.id) end
  redis.call('ZADD', funded_by_due_key, invoice.dueAt, invoice.id)
  local net = price - fee
  local seller_stats = KEY.stats(invoice.sellerId)
  bump(seller_stats, 'fundedCount', 1)
  bump(seller_stats, 'raisedAmount', net)
  bump_daily(invoice.sellerId, today, 'raised', net)
  emit(streams.seller, streams.user_maxlen, 'invoiceFunded', obj({
    'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(price),
    'platformFee', int(fee), 'investor', S(investor), 'newBalance', int(seller_balance)}))
  invoice_updated(invoice, streams.market, streams.market_maxlen)
end

-- An invoice just funded at `f.price` by one investor, the money already moved (the seller got the
-- price minus `f.fee`): the invoice and its indexes, the investment, the stats and the funding events.
-- `k` holds the keys the caller knows. Returns the investment.
local function record_funding(invoice, k, f)
  local face = tonumber(invoice.amount)
  local profit = face - f.price
  invoice.investorId, invoice.investmentId = f.investor_id, f.investment_id
  local investment = {id = f.investment_id, invoiceId = invoice.id, investorId = f.investor_id,
    claim = int(face), amount = int(f.price), expectedReturn = int(face), profit = int(profit), received = '0',
    status = 'active', createdAt = f.now_iso}
  redis.call('HSET', k.investment, 'id', investment.id, 'invoiceId', investment.invoiceId,
    'investorId', f.investor_id, 'claim', investment.claim, 'amount', investment.amount,
    'expectedReturn', investment.expectedReturn, 'profit', investment.profit, 'received', '0',
    'status', 'active', 'createdAt', f.now_iso)
  redis.call('RPUSH', KEY.invoice_holdings(invoice.id), f.investment_id)
  redis.call('ZADD', k.investor_investments, f.now_ms, f.investment_id)
  redis.call('ZADD', k.investor_invoices, f.now_ms, invoice.id)

  bump(k.investor_stats, 'investmentCount', 1)
  bump(k.investor_stats, 'investedAmount', f.price)
  bump(k.investor_stats, 'expectedReturn', face)
  bump_daily(f.investor_id, f.today, 'invested', f.price)
  mark_funded(invoice, k.listed, k.funded_by_due, f.price, f.fee, f.investor_name, f.seller_balance, f.now_iso,
    f.today, {seller = k.seller_stream, market = k.market_stream, user_maxlen = f.user_stream_maxlen,
              market_maxlen = f.market_stream_maxlen},
    {'investorId', f.investor_id, 'investor', f.investor_name, 'investmentId', f.investment_id})
  emit(k.investor_stream, f.user_stream_maxlen, 'investmentSuccess', obj({
    'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(f.price),
    'expectedReturn', int(face), 'profit', int(profit), 'newBalance', int(f.investor_balance)}))
  return investment
end

-- Exposure limits (PUT /api/users/limits/{buyerId}): an investor's exposure on a buyer is the face value
-- of every claim they hold on that buyer's invoices and have not been repaid, plus that of every
-- pending bid (a bid is counted as the claim it would become). Refused when `add` would pass the limit.
local function exposure_refused(investor_id, buyer_id, add)
  if add <= 0 then return nil end
  local limit = redis.call('HGET', KEY.limits(investor_id), buyer_id)
  if not limit then return nil end
  local exposure = tonumber(redis.call('HGET', KEY.exposure(investor_id), buyer_id) or '0')
  if exposure + add > tonumber(limit) then
    return refuse('exposure_limit_exceeded', 'this would take your exposure on the buyer to ' ..
      string.format('%d', exposure + add) .. ' paise, above your limit of ' .. limit)
  end
  return nil
end

local function add_exposure(investor_id, buyer_id, delta)
  if delta ~= 0 then redis.call('HINCRBY', KEY.exposure(investor_id), buyer_id, delta) end
end

-- Takes a bid out of its invoice's pending set (status: accepted, rejected, withdrawn, refunded, expired).
-- Its claim leaves the bidder's exposure, unless the bid was accepted (then it is the funded claim).
local function close_bid(invoice, bid, status, now_iso)
  bid.status, bid.updatedAt = status, now_iso
  redis.call('HSET', KEY.bid(bid.id), 'status', status, 'updatedAt', now_iso)
  redis.call('ZREM', KEY.invoice_bids(invoice.id), bid.id)
  redis.call('HDEL', KEY.invoice_bidders(invoice.id), bid.investorId)
  redis.call('ZREM', KEY.bids_by_expiry(), bid.id)
  if status ~= 'accepted' then
    redis.call('HINCRBY', KEY.exposure(bid.investorId), invoice.buyerId, -tonumber(invoice.amount))
  end
end

-- Gives one pending bid's money back to its bidder from the invoice's escrow and closes it, with
-- `event` to the bidder. A refund is never refused: it is the bidder's own money (it may take a
-- wallet past 10^15, which stays exact: every escrowed amount left a wallet below it).
local function refund_bid(invoice, bid, status, event, now_iso, user_stream_maxlen)
  local amount = tonumber(bid.amount)
  local bidder = account(bid.investorId)
  local what = 'Invoice ' .. invoice.invoiceNumber
  local _, balance = transfer(escrow_of(invoice.id), bidder, amount, 'bid_refund', 'Bid returned, ' .. what,
    'Bid returned, ' .. what, invoice.id, now_iso, user_stream_maxlen)
  close_bid(invoice, bid, status, now_iso)
  emit(bidder.stream, user_stream_maxlen, event, obj({'bidId', S(bid.id), 'invoiceId', S(invoice.id),
    'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(amount), 'newBalance', int(balance)}))
end

-- Refunds every pending bid of an invoice but `keep` (a bid id, or nil). Returns how many.
local function refund_bids(invoice, keep, status, event, now_iso, user_stream_maxlen)
  local refunded = 0
  for _, bid_id in ipairs(redis.call('ZRANGE', KEY.invoice_bids(invoice.id), 0, -1)) do
    if bid_id ~= keep then
      refund_bid(invoice, hgetall(KEY.bid(bid_id)), status, event, now_iso, user_stream_maxlen)
      refunded = refunded + 1
    end
  end
  return refunded
end


-- An invoice's investments in participation order: the claims bought of a fractional invoice, or the
-- one investment of a whole invoice. Each has `claim` and `received`, also one written before they
-- were kept (a whole invoice's, with no holdings list): its claim is the face value, and what the
-- invoice received is its own.
local function holdings_of(invoice)
  local ids = redis.call('LRANGE', KEY.invoice_holdings(invoice.id), 0, -1)
  local legacy = #ids == 0 and invoice.investmentId and invoice.investmentId ~= ''
  if legacy then ids = {invoice.investmentId} end
  local found = {}
  for i, investment_id in ipairs(ids) do
    local held = hgetall(KEY.investment(investment_id))
    held.claim = held.claim or held.expectedReturn
    held.received = held.received or (legacy and invoice.received) or '0'
    found[i] = held
  end
  return found
end

-- Gives every reserved claim of a fractional invoice its price back from the escrow: the investment is
-- refunded, its claim leaves the investor's exposure and figures, and investmentRefunded tells them.
-- Never refused: it is the investors' own money.
local function refund_participations(invoice, now_iso, user_stream_maxlen)
  local what = 'Invoice ' .. invoice.invoiceNumber
  for _, held in ipairs(holdings_of(invoice)) do
    if held.status == 'reserved' then
      local price, claim = tonumber(held.amount), tonumber(held.claim)
      local investor = account(held.investorId)
      local balance = balance_of(investor)
      if price > 0 then
        local _
        _, balance = transfer(escrow_of(invoice.id), investor, price, 'claim_refund', 'Claim returned, ' .. what,
          'Claim returned, ' .. what, invoice.id, now_iso, user_stream_maxlen)
      end
      redis.call('HSET', KEY.investment(held.id), 'status', 'refunded', 'refundedAt', now_iso)
      add_exposure(held.investorId, invoice.buyerId, -claim)
      local stats = KEY.stats(held.investorId)
      bump(stats, 'investmentCount', -1)
      bump(stats, 'investedAmount', -price)
      bump(stats, 'expectedReturn', -claim)
      bump(stats, 'reservedCount', -1)
      bump(stats, 'reservedAmount', -price)
      bump_daily(held.investorId, string.sub(held.createdAt, 1, 10), 'invested', -price)  -- the day it was bought
      emit(investor.stream, user_stream_maxlen, 'investmentRefunded', obj({'investmentId', S(held.id),
        'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'claim', int(claim),
        'amount', int(price), 'newBalance', int(balance)}))
    end
  end
end

-- Takes a listed invoice off the market for good: `status` (cancelled or expired) with `fields` (more
-- field/value pairs for the hash), out of the listed indexes (`listed_keys`) and the deadline index,
-- its number free again, counted as cancelled in the seller's and buyer's figures; every pending bid
-- and every claim bought goes back to whoever paid it; invoiceUpdated to the market.
local function delist(invoice, status, fields, listed_keys, market_stream_key, now_iso, user_stream_maxlen,
                      market_stream_maxlen)
  invoice.status = status
  redis.call('HSET', KEY.invoice(invoice.id), 'status', status, unpack(fields))
  for _, index in ipairs(listed_keys) do redis.call('ZREM', index, invoice.id) end
  if fractional(invoice) then redis.call('ZREM', KEY.fractional_by_deadline(), invoice.id) end
  close_unlisted(invoice)
  refund_bids(invoice, nil, 'refunded', 'bidRejected', now_iso, user_stream_maxlen)
  refund_participations(invoice, now_iso, user_stream_maxlen)
  invoice_updated(invoice, market_stream_key, market_stream_maxlen)
end
