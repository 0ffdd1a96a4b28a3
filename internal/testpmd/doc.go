package testpmd
