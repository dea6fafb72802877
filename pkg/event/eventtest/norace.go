//go:build !race

package eventtest

const race = false
