// Package directory is handoff's group directory at the domain level: the
// listing a self-help group publishes (Group), its validation, the importers
// that turn public directory feeds into listings (Meeting Guide JSON, Open
// Referral HSDS 3.0), and the ranking that matches a referral to groups (Rank).
//
// It imports nothing from AWS. The store in shared/dynamo keeps listings and a
// geohash match index in DirectoryTable and hands Rank the candidates it reads
// around a patient; the admin API and the operator CLI call the importers.
//
// Nothing here logs. Errors meant for callers are *problem.Error values whose
// messages name fields, never the values a caller sent.
package directory
