package stream

import (
	"fmt"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// loggers route kafka-go's logs into zap: its chatty info logs at Debug,
// its errors at Warn (kafka-go retries most of them itself). The logger's
// name says which client logged (kafka.reader, kafka.spans, ...); the
// caller skips this adapter and kafka.LoggerFunc.Printf, so that it is
// the kafka-go statement that logged (consumergroup.go:806 is a join)
// rather than the adapter, the same line for every message.
func loggers(log *zap.Logger) (info, errs kafka.Logger) {
	log = log.WithOptions(zap.AddCallerSkip(2))
	info = kafka.LoggerFunc(func(msg string, args ...any) {
		if log.Core().Enabled(zap.DebugLevel) { // skip the Sprintf on the hot path
			log.Debug(fmt.Sprintf(msg, args...))
		}
	})
	errs = kafka.LoggerFunc(func(msg string, args ...any) {
		log.Warn(fmt.Sprintf(msg, args...))
	})
	return info, errs
}
