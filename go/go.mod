module github.com/libneedle/libneedle/go

go 1.24
