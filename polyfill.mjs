// import 'bun-sockets/polyfill': the same as require('bun-sockets/polyfill'), which it runs.
import './polyfill.js'
