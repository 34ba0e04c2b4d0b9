package server

// Validate says whether New would accept cfg's values, without opening
// anything: a command checks its flags with it, so that a value out of
// range is a usage error and not a failure to start.
func (c Config) Validate() error {
	return c.fill() // fills a copy
}
