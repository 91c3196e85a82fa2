// Package apiserver serves the public API (package nefele.v1) with
// connectrpc.com/connect: it decodes requests, converts between wire and
// domain types, calls the agent through the Backend interface and maps
// domain errors to wire errors through one table (errors.go). Only
// internal/agent imports it.
package apiserver
