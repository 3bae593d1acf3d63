-- deposit_funds: money arrives from the (simulated) bank: external account -> user's wallet.
--
-- KEYS[1] user's wallet hash
-- KEYS[2] user's ledger entries stream
-- KEYS[3] user's event stream
-- KEYS[4] external account's wallet hash
-- KEYS[5] external account's ledger entries stream
-- KEYS[6] ledger totals hash (deposits, withdrawals)
-- KEYS[7] idempotency hash for this request
-- KEYS[8] the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] user id
-- ARGV[2] amount, paise (1 .. 10^15)
-- ARGV[3] now, ISO 8601 UTC
-- ARGV[4] request body hash ('' when no Idempotency-Key)
-- ARGV[5] idempotency TTL, seconds
-- ARGV[6] user stream length max
-- Returns: ok {wallet, transaction} | unauthorized | idempotency_key_reused | balance_limit_exceeded
-- Events: walletUpdated (user)

local refused = caller_refused(KEYS[8], ARGV[1])
if refused then return refused end
local replay = idempotent_replay(KEYS[7], ARGV[4])
if replay then return replay end

local user = account(ARGV[1], KEYS[1], KEYS[2], KEYS[3])
local external = account('external', KEYS[4], KEYS[5], nil)
local amount = tonumber(ARGV[2])
refused = transfer_refused(external, user, amount)
if refused then return refused end

local _, balance, _, transaction = transfer(external, user, amount, 'deposit', 'Deposit from bank',
  'Deposit from bank', '', ARGV[3], ARGV[6])
redis.call('HINCRBY', KEYS[6], 'deposits', amount)

local result = obj({'wallet', wallet_json(balance), 'transaction', transaction})
idempotent_store(KEYS[7], ARGV[4], result, ARGV[5])
return ok(result)
