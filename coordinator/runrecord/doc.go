// Package runrecord holds the formats of the files a coordinator leaves in
// its data dir for the record of a run: the timeline (timeline.jsonl, one
// TimelineSecond per complete second and one TimelineEvent per phase
// change), the whole run's merged histograms (run-histograms.json) and the
// names of the verification files. The coordinator writes them; the report
// and the tests read them without importing the coordinator.
//
// It imports nothing of hbctl but coordinator/api, whose JSON types the
// records embed.
package runrecord
