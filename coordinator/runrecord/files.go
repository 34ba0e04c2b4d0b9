package runrecord

// VerifyFile is the last verification's response (api.VerifyResponse) in
// the data dir; the report shows its verdict.
const VerifyFile = "verify.json"

// VerifyInputFile is the ledgers as reconciled, kept with --save-input.
const VerifyInputFile = "verify-input.json"
