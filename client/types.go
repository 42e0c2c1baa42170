package client

import "github.com/rzonedb/rzone/internal/api"

// Wire types, shared with the server.
type (
	Account          = api.Account
	Payment          = api.Payment
	PaymentList      = api.PaymentList
	PayRequest       = api.PayRequest
	RepayRequest     = api.RepayRequest
	Repayment        = api.Repayment
	Allocation       = api.Allocation
	Bill             = api.Bill
	Status           = api.Status
	Member           = api.Member
	Notification     = api.Notification
	NotificationList = api.NotificationList
)

// ListOptions pages a list: After is the last key of the previous page,
// Limit the page size (0 means the server's default of 100).
type ListOptions struct {
	After string
	Limit int
}

// MaxAmount is the largest amount the API accepts, in minor units.
const MaxAmount = api.MaxAmount

// Cluster types.
type (
	RouteTable   = api.RouteTable
	ShardRoute   = api.ShardRoute
	ZoneRoute    = api.ZoneRoute
	ZoneStatus   = api.ZoneStatus
	ZoneList     = api.ZoneList
	ReplicaState = api.ReplicaState
	MemberList   = api.MemberList
	MemberInfo   = api.MemberInfo
)
