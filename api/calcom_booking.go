package api

import (
	"encoding/json"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/google/uuid"
)

// calcomBooking is the part of a Cal.com booking payload (version 2021-10-20)
// that the catalog maps (docs/events.md). Loosely typed fields are kept raw.
type calcomBooking struct {
	UID                 string                     `json:"uid"`
	BookingID           json.Number                `json:"bookingId"`
	EventTypeID         json.Number                `json:"eventTypeId"`
	EventTitle          string                     `json:"eventTitle"`
	Type                string                     `json:"type"`
	StartTime           string                     `json:"startTime"`
	EndTime             string                     `json:"endTime"`
	Location            *string                    `json:"location"`
	AdditionalNotes     *string                    `json:"additionalNotes"`
	Metadata            map[string]any             `json:"metadata"`
	Responses           map[string]json.RawMessage `json:"responses"`
	Attendees           []calcomPerson             `json:"attendees"`
	Organizer           calcomPerson               `json:"organizer"`
	RescheduleUID       *string                    `json:"rescheduleUid"`
	RescheduleID        json.Number                `json:"rescheduleId"`
	RescheduleStartTime string                     `json:"rescheduleStartTime"`
	RescheduleEndTime   string                     `json:"rescheduleEndTime"`
	RescheduledBy       *string                    `json:"rescheduledBy"`
	CancellationReason  *string                    `json:"cancellationReason"`
	CancelledBy         *string                    `json:"cancelledBy"`
	RequestReschedule   *bool                      `json:"requestReschedule"`
}

type calcomPerson struct {
	Name        *string `json:"name"`
	Email       *string `json:"email"`
	TimeZone    *string `json:"timeZone"`
	PhoneNumber *string `json:"phoneNumber"`
}

// calcomNamespace makes stable booking ids: UUIDv5(calcomNamespace, uid).
var calcomNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://empfio.com/ns/calcom-booking"))

type attendee struct {
	Name     *string `json:"name"`
	Email    *string `json:"email"`
	Phone    *string `json:"phone"`
	TimeZone *string `json:"time_zone"`
}

type organizer struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

// bookingData is booking.created; booking.rescheduled adds rescheduleData.
type bookingData struct {
	ID               string       `json:"id"`
	LeadID           *string      `json:"lead_id"`
	StartTime        *string      `json:"start_time"`
	EndTime          *string      `json:"end_time"`
	Service          *string      `json:"service"`
	CalcomBookingID  *json.Number `json:"calcom_booking_id"`
	CalcomBookingUID string       `json:"calcom_booking_uid"`
	EventTypeID      *json.Number `json:"event_type_id"`
	Status           string       `json:"status"`
	MeetingURL       *string      `json:"meeting_url"`
	Location         *string      `json:"location"`
	Attendee         *attendee    `json:"attendee"`
	Organizer        organizer    `json:"organizer"`
	Notes            *string      `json:"notes"`
}

type rescheduledData struct {
	bookingData
	PreviousStartTime        *string      `json:"previous_start_time"`
	PreviousEndTime          *string      `json:"previous_end_time"`
	PreviousCalcomBookingID  *json.Number `json:"previous_calcom_booking_id"`
	PreviousCalcomBookingUID *string      `json:"previous_calcom_booking_uid"`
	RescheduledBy            *string      `json:"rescheduled_by"`
	RescheduleReason         *string      `json:"reschedule_reason"`
}

type cancelledData struct {
	ID                  string       `json:"id"`
	LeadID              *string      `json:"lead_id"`
	StartTime           *string      `json:"start_time"`
	EndTime             *string      `json:"end_time"`
	CancelledAt         *string      `json:"cancelled_at"`
	CalcomBookingID     *json.Number `json:"calcom_booking_id"`
	CalcomBookingUID    string       `json:"calcom_booking_uid"`
	Status              string       `json:"status"`
	CancellationReason  *string      `json:"cancellation_reason"`
	CancelledBy         *string      `json:"cancelled_by"`
	RescheduleRequested bool         `json:"reschedule_requested"`
}

// data maps the booking to the data of eventType (docs/events.md); createdAt is the
// envelope's createdAt, the cancellation time of a cancelled booking.
func (b *calcomBooking) data(eventType, createdAt string) any {
	switch eventType {
	case webhooks.BookingCancelled:
		return cancelledData{
			ID: b.id(), LeadID: b.leadID(), StartTime: utc(b.StartTime), EndTime: utc(b.EndTime),
			CancelledAt: utc(createdAt), CalcomBookingID: number(b.BookingID), CalcomBookingUID: b.UID,
			Status: "cancelled", CancellationReason: b.CancellationReason, CancelledBy: b.CancelledBy,
			RescheduleRequested: b.RequestReschedule != nil && *b.RequestReschedule,
		}
	case webhooks.BookingRescheduled:
		return rescheduledData{
			bookingData: b.created(), PreviousStartTime: utc(b.RescheduleStartTime), PreviousEndTime: utc(b.RescheduleEndTime),
			PreviousCalcomBookingID: number(b.RescheduleID), PreviousCalcomBookingUID: b.RescheduleUID,
			RescheduledBy: b.RescheduledBy, RescheduleReason: b.response("rescheduleReason"),
		}
	default:
		return b.created()
	}
}

func (b *calcomBooking) created() bookingData {
	service := b.EventTitle
	if service == "" {
		service = b.Type
	}
	d := bookingData{
		ID: b.id(), LeadID: b.leadID(), StartTime: utc(b.StartTime), EndTime: utc(b.EndTime),
		Service: nonEmpty(service), CalcomBookingID: number(b.BookingID), CalcomBookingUID: b.UID,
		EventTypeID: number(b.EventTypeID), Status: "confirmed", MeetingURL: nonEmpty(b.metaString("videoCallUrl")),
		Location: b.Location, Organizer: organizer{Name: b.Organizer.Name, Email: b.Organizer.Email},
		Notes: b.AdditionalNotes,
	}
	if len(b.Attendees) > 0 {
		a := b.Attendees[0]
		phone := b.response("attendeePhoneNumber")
		if phone == nil {
			phone = a.PhoneNumber
		}
		d.Attendee = &attendee{Name: a.Name, Email: a.Email, Phone: phone, TimeZone: a.TimeZone}
	}
	return d
}

// id is the booking's Empfio id: metadata.booking_id, else UUIDv5 of the uid.
func (b *calcomBooking) id() string {
	if id := b.metaString("booking_id"); id != "" {
		return id
	}
	return uuid.NewSHA1(calcomNamespace, []byte(b.UID)).String()
}

func (b *calcomBooking) leadID() *string { return nonEmpty(b.metaString("lead_id")) }

// metaString returns metadata[key] when it is a string.
func (b *calcomBooking) metaString(key string) string {
	s, _ := b.Metadata[key].(string)
	return s
}

// response returns responses[key].value when it is a non-empty string.
func (b *calcomBooking) response(key string) *string {
	var r struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(b.Responses[key], &r) != nil {
		return nil
	}
	var s string
	if json.Unmarshal(r.Value, &s) != nil {
		return nil
	}
	return nonEmpty(s)
}

// utc normalises an RFC 3339 time to UTC with Z; nil when absent or unparsable.
func utc(s string) *string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	f := webhooks.FormatTime(t)
	return &f
}

func number(n json.Number) *json.Number {
	if n == "" {
		return nil
	}
	return &n
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
