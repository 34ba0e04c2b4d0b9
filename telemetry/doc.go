// Package telemetry measures and ships what a run looks like:
//
//   - per-second windows of counters and HdrHistograms (Window, Export,
//     Merge, Percentiles): agents export snapshots, the coordinator merges
//     them; percentiles are read off merged histograms, never averaged;
//   - the point model (Point, typed Field values: int64, float64, string,
//     bool, never unsigned) and its line-protocol codec;
//   - sinks behind one small interface (Sink): FileSink, the embedded
//     default writing <dir>/metrics.lp, and InfluxSink, through
//     influxdb-client-go behind a bounded queue so a slow or dead InfluxDB
//     never slows the load;
//   - host sampling with gopsutil (Collector, Sampler) in Telegraf's net,
//     cpu and mem schemas;
//   - the process's open-file limit (RaiseFileLimit).
//
// It imports nothing else of hbctl; every part may use it. Sub-packages:
// influxflags (the --influx-* flags) and influxtest (a private influxd for
// tests).
package telemetry
