module github.com/userservice-dev/userservice-operator

go 1.26
