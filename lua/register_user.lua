-- register_user: creates a user and an empty wallet; the email is unique in the market.
--
-- KEYS[1] users-by-email hash (email -> user id)
-- KEYS[2] the new user's hash
-- KEYS[3] the new user's wallet hash
-- KEYS[4] set of all wallet ids (for the ledger check)
-- ARGV[1] user id
-- ARGV[2] email, lower-cased
-- ARGV[3] name
-- ARGV[4] role: seller | investor | buyer
-- ARGV[5] company ('' when none)
-- ARGV[6] display name (company, else name)
-- ARGV[7] password hash (scrypt, encoded)
-- ARGV[8] created at, ISO 8601 UTC
-- Returns: ok {} | email_taken
-- Events: none

if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return refuse('email_taken', 'an account with this email already exists')
end

redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'email', ARGV[2], 'name', ARGV[3], 'role', ARGV[4],
  'company', ARGV[5], 'displayName', ARGV[6], 'passwordHash', ARGV[7], 'createdAt', ARGV[8])
redis.call('HSET', KEYS[3], 'balance', 0, 'currency', 'INR')
redis.call('SADD', KEYS[4], ARGV[1])
return ok('{}')
