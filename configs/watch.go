package configs

import (
	"fmt"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/viper"
)

// Watch calls changed after the file at path is written (editors and
// configuration management tools write in bursts: changes within debounce
// of each other make one call). It returns when watching has started.
func Watch(path string, debounce time.Duration, changed func()) error {
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		return fmt.Errorf("configs: watch %s: %w", path, err)
	}
	var mu sync.Mutex
	var timer *time.Timer
	v.OnConfigChange(func(fsnotify.Event) {
		mu.Lock()
		defer mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		timer = time.AfterFunc(debounce, changed)
	})
	v.WatchConfig()
	return nil
}
