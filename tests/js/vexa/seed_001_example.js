// Connect to WebSocket
const ws = new WebSocket('wss://your-api-url/ws?api_key=your-api-key');
ws.onopen = () => {
// Subscribe to meeting
ws.send(JSON.stringify({
action: 'subscribe',
meetings: [
{ platform: 'google_meet', native_id: 'abc-defg-hij' }
]
}));
};
ws.onmessage = (event) => {
const message = JSON.parse(event.data);
if (message.type === 'meeting.status') {
const status = message.payload.status;
const meeting = message.meeting;
console.log(`Meeting ${meeting.native_id} status: ${status}`);
// Handle different statuses
switch (status) {
case 'requested':
console.log('Bot is starting up...');
break;
case 'joining':
console.log('Bot is connecting to meeting...');
break;
case 'awaiting_admission':
console.log('Bot is waiting in the waiting room');
console.log('Please admit the bot to the meeting');
break;
case 'active':
console.log('Bot is actively transcribing!');
// Now you'll receive transcript events
break;
case 'completed':
console.log('Transcription completed');
// Disconnect or handle completion
ws.close();
break;
case 'failed':
console.error('Bot failed:', message.payload.error);
ws.close();
break;
}
// Update your UI with the new status
updateStatusIndicator(meeting.native_id, status);
}
};
