-- Move a reserved job whose payload can't be decoded to the dead letters. ARGV[3] its id in
-- the store, ARGV[4] the id of its dead letter, ARGV[5] the letter, ARGV[6] dead-letter limit.
forget(ARGV[3])
bury(ARGV[4], ARGV[5], tonumber(ARGV[6]))
return 1
