// Package telemetry measures and ships what a run looks like: per-second
// windows of counters and HdrHistograms, host sampling (NIC, CPU, memory)
// with gopsutil, and sinks (InfluxDB, and the embedded file sink).
//
// It imports nothing else of hbctl; every part may use it.
package telemetry
